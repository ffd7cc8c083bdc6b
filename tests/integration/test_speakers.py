"""Two speakers taking turns (two espeak voices): every final segment names the right speaker."""

import asyncio

import numpy as np
import pytest

from client import WavTrack
from client.audio import RATE
from client.speech import Utterance, word_error_rate
from sfu.server import CaptionServer

from .conftest import client

pytestmark = pytest.mark.asyncio(loop_scope="module")


def turns(
    speech: dict[str, tuple[np.ndarray, str]], order: list[tuple[str, str]], gap: float = 1.2
):
    """One track per speaker, silent while the other speaks, and the timetable."""
    total = sum(len(speech[k][0]) for _, k in order) + round(gap * RATE) * (len(order) + 1)
    tracks = {who: np.zeros(total, np.float32) for who, _ in order}
    timetable, position = [], round(gap * RATE)
    for who, key in order:
        pcm, text = speech[key]
        tracks[who][position : position + len(pcm)] = pcm
        timetable.append(Utterance(who, text, position / RATE, (position + len(pcm)) / RATE))
        position += len(pcm) + round(gap * RATE)
    return tracks, timetable


async def test_each_final_names_who_said_it(
    server: CaptionServer, speech: dict[str, tuple[np.ndarray, str]]
) -> None:
    order = [("Ada", "ada"), ("Bob", "bob"), ("Ada", "ada2"), ("Bob", "bob2")]
    tracks, timetable = turns(speech, order)
    go = asyncio.Event()
    ada_track = WavTrack(tracks["Ada"], start=go)
    bob_track = WavTrack(tracks["Bob"], start=go)
    ada = client(server, "turns", "Ada", audio=ada_track)
    bob = client(server, "turns", "Bob", audio=bob_track)
    carol = client(server, "turns", "Carol")
    for participant in (ada, bob, carol):
        await participant.join()
    try:
        go.set()
        await asyncio.wait_for(ada_track.finished.wait(), 60)
        assert ada_track.started_at is not None and carol.joined is not None
        offset = ada_track.started_at - carol.joined.clock_origin  # track time → room time
        last_end = offset + timetable[-1].end

        def done() -> bool:
            finals = [c for c in carol.finals() if c.text]
            return bool(finals) and finals[-1].end >= last_end - 1.5

        await carol.wait_for(done, 30)
    finally:
        for participant in (ada, bob, carol):
            await participant.leave()

    finals = [c for c in carol.finals() if c.text]
    assert finals
    for caption in finals:
        middle = (caption.start + caption.end) / 2 - offset
        said = min(
            timetable,
            key=lambda u: (
                0 if u.start <= middle <= u.end else min(abs(middle - u.start), abs(middle - u.end))
            ),
        )
        assert caption.speaker is not None, caption
        assert caption.speaker.name == said.speaker, (caption.text, said)
    for name in ("Ada", "Bob"):
        spoken = " ".join(u.text for u in timetable if u.speaker == name)
        captioned = " ".join(c.text for c in finals if c.speaker and c.speaker.name == name)
        assert word_error_rate(spoken, captioned) <= 0.35, (name, captioned)
