"""Whose cameras a subscriber receives when the room has more than its limit (issue 22): real
aiortc participants publishing synthetic VP8 cameras and a tone when their turn comes, and a
viewer that pinned one camera and may receive two. The speaker's camera takes the second section
after each change of speaker, by switching the section's source without an offer, and the
pinned camera stays forwarded whoever speaks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio

from client import CaptionClient, WavTrack
from client.audio import RATE
from client.camera import SyntheticCamera
from protocol.jsep import sections
from sfu.config import ServerConfig
from sfu.server import CaptionServer

from .conftest import client, until
from .scripted import scripted_server

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server() -> AsyncIterator[CaptionServer]:
    config = ServerConfig(port=0, max_subscriber_video=2)
    async with scripted_server(1.5, config) as server:
        yield server


def tone(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * RATE), dtype=np.float32) / RATE
    return (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)


def voice(start: asyncio.Event) -> WavTrack:
    """Silence until `start`; then a 0.3 s cough (no turn: silent again before the 1 s hold
    has run), 2.7 s of silence, and a steady voiced tone (a turn, once the hold has run)."""
    cough = np.concatenate([tone(0.3), np.zeros(round(2.7 * RATE), np.float32)])
    return WavTrack(np.concatenate([cough, tone(30.0)]), start=start)


def pid(participant: CaptionClient) -> str:
    assert participant.joined is not None
    return participant.joined.participant


def frames(viewer: CaptionClient, source: CaptionClient) -> int:
    return viewer.video_from.get(pid(source), {}).get("camera", 0)


def mid_of(viewer: CaptionClient, source: CaptionClient) -> str | None:
    sections = viewer.video_sections or {}
    return next((m for m, s in sections.items() if s.participant == pid(source)), None)


def msid_by_mid(viewer: CaptionClient) -> dict[str | None, str | None]:
    assert viewer.pc is not None and viewer.pc.remoteDescription is not None
    return {
        s.mid: s.stream
        for s in sections(viewer.pc.remoteDescription.sdp)
        if s.source == "camera" and s.kind == "video"
    }


def msids(viewer: CaptionClient) -> set[str | None]:
    return set(msid_by_mid(viewer).values())


async def test_the_speakers_camera_follows_turns_and_a_pinned_camera_stays(
    server: CaptionServer,
) -> None:
    room = "cameras"
    turn = {name: asyncio.Event() for name in ("Ada", "Bob", "Cy")}
    people = {
        name: client(server, room, name, audio=voice(go), camera=SyntheticCamera())
        for name, go in turn.items()
    }
    ada, bob, cy = people.values()
    zoe = client(server, room, "Zoe")  # no camera, no microphone: watches
    yan = client(server, room, "Yan")  # watches too, but never says what: the default
    everyone = [*people.values(), zoe, yan]
    try:
        for participant in everyone:
            await participant.join()
        await zoe.view(pinned=[pid(ada)])
        await until(lambda: frames(zoe, ada) >= 10, 15, "Zoe to see Ada, whom she pinned")
        assert set(zoe.video_from) == {pid(ada)}  # nobody spoke yet; a view gets no filling

        turn["Bob"].set()
        await until(lambda: frames(zoe, bob) >= 10, 15, "Zoe to see Bob, who speaks")
        bobs_section = mid_of(zoe, bob)

        turn["Cy"].set()  # Bob goes on speaking; Cy's turn comes 4 s from now
        await until(lambda: zoe.frames_from.get(pid(cy), 0) > 0, 5, "Zoe to hear Cy's cough")
        offers = zoe.offers  # the one that added Cy's audio section is in
        assert mid_of(zoe, bob) == bobs_section  # a cough is no turn
        ada_before = frames(zoe, ada)
        await until(lambda: frames(zoe, cy) >= 10, 15, "Zoe to see Cy, who speaks now")
        assert mid_of(zoe, cy) == bobs_section and mid_of(zoe, bob) is None
        assert zoe.offers == offers  # the section switched source: no offer
        await until(lambda: frames(zoe, ada) >= ada_before + 10, 10, "Ada to stay forwarded")
        assert set(zoe.video_sections or {}) == {mid_of(zoe, ada), bobs_section}

        # Yan sent no view: the last speakers' cameras (Cy, Bob), told by an offer's msids.
        await until(lambda: msids(yan) == {pid(bob), pid(cy)}, 10, "Yan's offer naming Cy")
        cys_section = next(m for m, who in msid_by_mid(yan).items() if who == pid(cy))
        decoded = yan.video_frames_by_mid.get(cys_section, 0)
        await until(
            lambda: yan.video_frames_by_mid.get(cys_section, 0) >= decoded + 10,
            10,
            "Yan to decode Cy's camera",
        )
        assert yan.video_sections is None  # told nothing it did not ask for
        assert not any(p.negotiation_violations for p in everyone)
        assert not zoe.errors
    finally:
        for participant in everyone:
            await participant.leave()
