"""The server end to end with `--engine kyutai` on the tiny random-weight checkpoint: the text is
random, the protocol, the batching and the delivery are real."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio

from captioner.engine import SAMPLE_RATE
from captioner.kyutai.config import KyutaiConfig
from client import WavTrack, load_audio
from client.audio import RATE
from protocol import StatusState
from sfu.config import ServerConfig
from sfu.server import CaptionServer

from ..conftest import DATA
from .conftest import client

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def kyutai_server(tiny_checkpoint: Path) -> AsyncIterator[CaptionServer]:
    config = ServerConfig(
        port=0,
        engine="kyutai",
        kyutai=KyutaiConfig(checkpoint=str(tiny_checkpoint), slots=3, progress=False),
        per_speaker_rooms=frozenset({"duo"}),
    )
    server = CaptionServer(config)
    await server.start()
    yield server
    await server.stop()


def jfk(seconds: float) -> np.ndarray:
    return load_audio(DATA / "jfk.flac", RATE)[: round(seconds * RATE)]


async def test_mixed_room_captions_reach_a_real_client(kyutai_server: CaptionServer) -> None:
    track = WavTrack(jfk(4.0), play_offset=0.3)
    ada = client(kyutai_server, "mixed", "Ada", audio=track)
    bob = client(kyutai_server, "mixed", "Bob")
    joined = await ada.join()
    await bob.join()
    try:
        assert joined.engine.startswith("kyutai:")
        await asyncio.wait_for(track.finished.wait(), 30)
        await bob.wait_for(lambda: any(c.text and c.speaker for c in bob.finals()), 20)
    finally:
        await ada.leave()
        await bob.leave()
    finals = [c for c in bob.finals() if c.text]
    assert all(c.speaker is None or c.speaker.name in ("Ada", "Bob") for c in finals)
    assert any(c.speaker is not None and c.speaker.name == "Ada" for c in finals)
    assert all(w.start <= w.end for c in finals for w in c.words)
    assert bob.statuses and bob.statuses[-1].state is StatusState.OK


async def test_per_speaker_room_captions_each_participant_as_its_own_stream(
    kyutai_server: CaptionServer,
) -> None:
    go = asyncio.Event()
    # Overlapping speech: both talk at once, which a mixed stream could not separate.
    ada_track = WavTrack(jfk(3.0), start=go)
    bob_track = WavTrack(jfk(3.0)[::-1].copy(), start=go)
    ada = client(kyutai_server, "duo", "Ada", audio=ada_track)
    bob = client(kyutai_server, "duo", "Bob", audio=bob_track)
    for participant in (ada, bob):
        await participant.join()
    try:
        go.set()
        await asyncio.wait_for(ada_track.finished.wait(), 30)

        def both_spoke() -> bool:
            names = {c.speaker.name for c in ada.finals() if c.text and c.speaker}
            return {"Ada", "Bob"} <= names

        await ada.wait_for(both_spoke, 20)
    finally:
        await ada.leave()
        await bob.leave()
    finals = [c for c in ada.finals() if c.text]
    by_speaker: dict[str, set[str]] = {}
    for caption in finals:
        assert caption.speaker is not None
        stream = caption.segment.rsplit("-", 1)[0]
        by_speaker.setdefault(caption.speaker.name, set()).add(stream)
    # Each speaker's segments come from one stream, their own.
    assert len(by_speaker["Ada"]) == 1 and len(by_speaker["Bob"]) == 1
    assert by_speaker["Ada"] != by_speaker["Bob"]


async def test_a_room_beyond_the_slots_is_told_captions_are_unavailable(
    kyutai_server: CaptionServer,
) -> None:
    """3 slots, 3 rooms take them: the next room waits with status `unavailable`, then gets
    captions once a slot frees."""
    # The earlier tests' streams free their slots once their last step ran.
    idle = 'livecaptions_engine_streams{kind="open"} 0.0'
    for _ in range(200):
        if idle in kyutai_server.metrics.render().decode():
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the engine still serves streams of rooms that closed")
    holders = [client(kyutai_server, f"hold{i}", "Holder") for i in range(3)]
    for holder in holders:
        await holder.join()
    late = client(kyutai_server, "late", "Late", audio=WavTrack(np.zeros(SAMPLE_RATE, np.float32)))
    await late.join()
    try:
        await late.wait_for(lambda: bool(late.statuses), 10)
        assert late.statuses[-1].state is StatusState.UNAVAILABLE
        await holders[0].leave()
        await late.wait_for(lambda: late.statuses[-1].state is StatusState.OK, 10)
    finally:
        for participant in (*holders[1:], late):
            await participant.leave()
