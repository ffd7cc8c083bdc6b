"""Subtitles off: nothing reaches that participant 0.5 s after; on again: captions resume."""

import asyncio
import time

import numpy as np
import pytest

from client import WavTrack
from sfu.server import CaptionServer

from .conftest import client

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_toggle_off_then_on(
    server: CaptionServer, speech: dict[str, tuple[np.ndarray, str]]
) -> None:
    pcm = np.concatenate([speech["report"][0], speech["ada"][0], speech["bob"][0]])
    track = WavTrack(pcm, play_offset=0.3)
    ada = client(server, "toggle", "Ada", audio=track)
    bob = client(server, "toggle", "Bob")
    await ada.join()
    await bob.join()
    try:
        await bob.wait_for(lambda: len(bob.captions) >= 2, 30)
        await bob.set_subtitles(False)
        off_at = time.time()
        await bob.wait_for(lambda: any(not s.subtitles for s in bob.statuses), 5)
        seen_by_ada = len(ada.captions)
        # Captions go on for Ada while Bob's are off.
        await ada.wait_for(lambda: len(ada.captions) >= seen_by_ada + 4, 30)
        late = [r for r in bob.captions if r.received_at > off_at + 0.5]
        assert late == []
        count_off = len(bob.captions)

        await bob.set_subtitles(True)
        on_at = time.time()
        await bob.wait_for(lambda: len(bob.captions) > count_off, 30)
        assert bob.statuses[-1].subtitles is True
        assert all(r.received_at > on_at for r in bob.captions[count_off:])
    finally:
        await ada.leave()
        await bob.leave()
    await asyncio.sleep(0)


async def test_joining_with_subtitles_off_gets_status_but_no_captions(
    server: CaptionServer, speech: dict[str, tuple[np.ndarray, str]]
) -> None:
    track = WavTrack(speech["ada"][0], play_offset=0.3)
    ada = client(server, "quiet", "Ada", audio=track)
    bob = client(server, "quiet", "Bob", subtitles=False)
    await ada.join()
    await bob.join()
    try:
        await bob.wait_for(lambda: bool(bob.statuses), 5)
        await ada.wait_for(lambda: any(c.text for c in ada.finals()), 30)
        assert bob.statuses[0].subtitles is False
        assert bob.captions == []
    finally:
        await ada.leave()
        await bob.leave()
