"""Issue 19's meeting page in real browsers against the real server: the tiles (a pinned tile stays
large while another person speaks; each person's caption under their own tile; a phone-sized
viewport keeps every tile and the caption area on screen) and sync mode (received sound held back
by the measured caption lag with `RTCRtpReceiver.jitterBufferTarget`, read back from every
receiver, those added later included; said plainly where a browser cannot).

Speakers are Python clients whose audio a scripted engine captions every 1.5 s (captions of known
speakers, at once); the pages under test join as listeners."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from client import CaptionClient, WavTrack
from client.audio import RATE
from client.camera import SyntheticCamera
from sfu.server import CaptionServer

from .browser_pages import (
    TIMEOUT_MS,
    MeetingPage,
    launched_chromium,
)
from .conftest import ws_url
from .firefox import PREFS, Firefox, require_firefox
from .scripted import scripted_server

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.browser]

OUT = Path(os.environ.get("LIVECAPTIONS_OUT", "out"))
CAPTIONS_UNDER_TILES = (
    'localStorage.setItem("livecaptions.settings.v1", JSON.stringify({captionsUnderTiles: true}));'
)
SYNC_MODE = 'localStorage.setItem("livecaptions.settings.v1", JSON.stringify({syncMode: true}));'
# A browser without jitterBufferTarget (Firefox before 136, Safari), as far as the page can tell.
NO_JITTER_TARGET = "delete RTCRtpReceiver.prototype.jitterBufferTarget;"
STATUS = """
window.__status = null;
document.addEventListener("livecaptions:status", (e) => { window.__status = e.detail; });
"""


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server() -> AsyncIterator[CaptionServer]:
    async with scripted_server(1.5) as server:
        yield server


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def chromium() -> AsyncIterator[Any]:
    async with launched_chromium() as browser:
        yield browser


def base(server: CaptionServer) -> str:
    return f"http://127.0.0.1:{server.port}"


def voice(turn: int = 0, turns: int = 1) -> np.ndarray:
    """A loop the room's speech gate takes for speech (bursts of a tone, 0.2 s on, 0.2 s off: a
    steady tone would become its noise floor) during the `turn`-th of `turns` 3 s turns."""
    t = np.arange(round(0.2 * RATE)) / RATE
    burst = np.concatenate([0.3 * np.sin(2 * np.pi * 220 * t), np.zeros(len(t))])
    talk = np.tile(burst, round(3.0 / 0.4)).astype(np.float32)
    loop = np.zeros(len(talk) * turns, np.float32)
    loop[turn * len(talk) : (turn + 1) * len(talk)] = talk
    return loop


def speaker(
    server: CaptionServer,
    room: str,
    name: str,
    audio: np.ndarray | None = None,
    start: asyncio.Event | None = None,
    camera: SyntheticCamera | None = None,
) -> CaptionClient:
    """A Python participant: the scripted engine captions the room's speech every 1.5 s under the
    name of whoever spoke most then; one without `audio` sends none."""
    track = None if audio is None else WavTrack(audio, loop=True, start=start)
    return CaptionClient(ws_url(server), room=room, name=name, audio=track, camera=camera)


async def listener(
    browser: Any, server: CaptionServer, room: str, name: str, *scripts: str, **context: Any
) -> MeetingPage:
    page = await MeetingPage.open(
        await browser.new_context(**context), base(server), "", (STATUS, *scripts)
    )
    await page.join(room, name, listen_only=True)
    await page.wait_in_room()
    await page.page.wait_for_function("window.__status !== null", timeout=TIMEOUT_MS)
    return page


async def tile_of(page: MeetingPage, participant: str) -> dict[str, Any]:
    """A tile's data attributes and where it is on screen."""
    return dict(
        await page.page.evaluate(
            """(id) => { const t = document.querySelector(`#tiles .tile[data-key="${id}"]`);
                const r = t.getBoundingClientRect();
                return {...t.dataset, width: r.width, height: r.height, top: r.top,
                        bottom: r.bottom, left: r.left, right: r.right}; }""",
            participant,
        )
    )


async def test_a_pinned_tile_stays_large_while_another_speaks(
    server: CaptionServer, chromium: Any
) -> None:
    room = "pinned"
    ivy = speaker(server, room, "Ivy")  # the interpreter: signs, says nothing
    bob = speaker(server, room, "Bob", voice())
    await ivy.join()
    page = await listener(chromium, server, room, "Carol", viewport={"width": 1280, "height": 800})
    try:
        assert ivy.joined is not None
        interpreter = ivy.joined.participant
        await page.page.wait_for_function(
            "document.querySelectorAll('#tiles .tile').length === 2", timeout=TIMEOUT_MS
        )
        # By keyboard: the pin button is a real button with a name that says whose tile it is.
        pin = f'#tiles .tile[data-key="{interpreter}"] .pin'
        assert await page.page.get_attribute(pin, "aria-label") == "Pin Ivy's tile large"
        await page.page.focus(pin)
        await page.page.keyboard.press("Enter")
        assert await page.page.get_attribute(pin, "aria-pressed") == "true"
        await bob.join()
        bob_id = bob.joined.participant if bob.joined else ""
        await page.page.wait_for_function(
            """(id) => document.querySelector(`#tiles .tile[data-key="${id}"]`)
                ?.dataset.speaking === "true" """,
            arg=bob_id,
            timeout=TIMEOUT_MS,
        )
        pinned, talking = await tile_of(page, interpreter), await tile_of(page, bob_id)
        state = await page.page.inner_text(f'#tiles .tile[data-key="{bob_id}"] .tile-state')
        OUT.mkdir(parents=True, exist_ok=True)
        await page.page.screenshot(path=str(OUT / "tiles-pinned-1280x800.png"))
    finally:
        await page.page.context.close()
        await ivy.leave()
        await bob.leave()
    assert pinned["large"] == "true" and pinned["pinned"] == "true", pinned
    assert talking["large"] == "false" and talking["speaking"] == "true", talking
    assert pinned["width"] > 2 * talking["width"] and pinned["top"] < talking["top"]
    assert "speaking" in state  # in words, not only a green border


async def test_captions_under_each_speaker_go_under_the_right_tile(
    server: CaptionServer, chromium: Any
) -> None:
    room = "crosstalk"
    go = asyncio.Event()  # they take 3 s turns, from the same moment
    ada = speaker(server, room, "Ada", voice(0, 2), go)
    bob = speaker(server, room, "Bob", voice(1, 2), go)
    await ada.join()
    await bob.join()
    go.set()
    page = await listener(chromium, server, room, "Carol", CAPTIONS_UNDER_TILES)
    try:
        await page.page.wait_for_function(
            """() => [...document.querySelectorAll('#tiles .tile-caption')]
                .filter((p) => !p.hidden && p.textContent).length >= 2""",
            timeout=TIMEOUT_MS,
        )
        under = await page.page.evaluate(
            """[...document.querySelectorAll('#tiles .tile')].map((t) => {
                const line = t.querySelector('.tile-caption');
                return {tile: t.dataset.participant, segment: line.dataset.segment,
                        text: line.textContent, hidden: line.hidden}; })"""
        )
        captions = await page.captions()
        area = await page.page.evaluate("document.querySelectorAll('#captions p').length")
    finally:
        await page.page.context.close()
        await ada.leave()
        await bob.leave()
    speaker_of = {c["segment"]: c["speaker"]["id"] for c in captions if c["speaker"]}
    shown = [u for u in under if not u["hidden"]]
    assert {u["tile"] for u in shown} == {p.joined.participant for p in (ada, bob) if p.joined}
    for line in shown:
        assert speaker_of[line["segment"]] == line["tile"], (line, speaker_of)
        assert line["text"]
    assert area > 0  # the three-line caption area stays as it is


async def test_a_phone_keeps_every_tile_and_the_caption_area_on_screen(
    server: CaptionServer, chromium: Any
) -> None:
    """Carol on a phone (390x844) with her (fake) camera on, three others with cameras
    (synthetic VP8): four tiles with pictures, two a row, above the caption area."""
    room = "phone"
    others = [
        speaker(server, room, name, voice(), camera=SyntheticCamera())
        for name in ("Ada Lovelace", "Bob", "Dee")
    ]
    for other in others:
        await other.join()
    context = await chromium.new_context(viewport={"width": 390, "height": 844})
    page = await MeetingPage.open(context, base(server), "", (STATUS, CAPTIONS_UNDER_TILES))
    try:
        await page.join(room, "Carol")
        await page.wait_in_room()
        await page.page.wait_for_function(
            """() => { const tiles = [...document.querySelectorAll('#tiles .tile')];
                return tiles.length === 4 && tiles.every((t) => t.dataset.camera === 'on'
                        && t.querySelector('video').videoWidth > 0)
                    && document.querySelectorAll('#captions p').length > 0; }""",
            timeout=TIMEOUT_MS,
        )
        tiles = await page.page.evaluate(
            """[...document.querySelectorAll('#tiles .tile')].map((t) => {
                const r = t.getBoundingClientRect();
                return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; })"""
        )
        area = await page.page.evaluate(
            """(() => { const r = document.getElementById('caption-area').getBoundingClientRect();
                return {top: r.top, bottom: r.bottom}; })()"""
        )
        scroll = await page.page.evaluate("document.documentElement.scrollWidth")
        OUT.mkdir(parents=True, exist_ok=True)
        await page.page.screenshot(path=str(OUT / "tiles-390x844.png"))
    finally:
        await context.close()
        for other in others:
            await other.leave()
    assert scroll <= 390  # nothing wider than the phone
    for tile in tiles:
        assert tile["left"] >= 0 and tile["right"] <= 390, tile
        assert tile["top"] >= 0 and tile["bottom"] <= area["top"], (tile, area)
    assert area["bottom"] <= 844


async def sync_applied(page: MeetingPage, receivers: int) -> list[dict[str, Any]]:
    """Once sync mode holds back `receivers` audio receivers by what it says it applies."""
    await page.page.wait_for_function(
        """(n) => { const applied = Number(document.getElementById('sync-state').dataset.appliedMs);
            const audio = window.livecaptions.receivers().filter((r) => r.kind === 'audio');
            return applied > 0 && audio.length >= n
                && audio.every((r) => r.jitterBufferTarget === applied); }""",
        arg=receivers,
        timeout=TIMEOUT_MS,
    )
    return list(await page.page.evaluate("window.livecaptions.receivers()"))


async def test_sync_mode_holds_back_every_receiver_in_chromium(
    server: CaptionServer, chromium: Any
) -> None:
    room = "sync"
    ada, bob = speaker(server, room, "Ada", voice()), speaker(server, room, "Bob", voice())
    await ada.join()
    page = await listener(chromium, server, room, "Carol", SYNC_MODE)
    try:
        await sync_applied(page, 1)
        await bob.join()  # a receiver added later is held back too
        receivers = await sync_applied(page, 2)
        said = await page.page.inner_text("#sync-state")
        applied = int(await page.page.get_attribute("#sync-state", "data-applied-ms") or 0)
    finally:
        await page.page.context.close()
        await ada.leave()
        await bob.leave()
    assert {r["participant"] for r in receivers if r["participant"]} == {
        p.joined.participant for p in (ada, bob) if p.joined
    }
    assert 0 < applied <= 4000
    assert f"held back by {applied / 1000:.1f} s" in said, said


async def test_sync_mode_in_firefox_and_where_a_browser_cannot(
    server: CaptionServer, chromium: Any
) -> None:
    require_firefox()
    room = "sync-firefox"
    ada = speaker(server, room, "Ada", voice())
    await ada.join()
    firefox = await Firefox.launch(PREFS)
    pages: list[MeetingPage] = []
    try:
        fox = await listener(firefox, server, room, "Fox", SYNC_MODE)
        pages.append(fox)
        has_it = await fox.page.evaluate("'jitterBufferTarget' in RTCRtpReceiver.prototype")
        if has_it:
            await sync_applied(fox, 1)
        old = await listener(chromium, server, room, "Old", SYNC_MODE, NO_JITTER_TARGET)
        pages.append(old)
        await old.page.wait_for_function("window.__captions.length > 0", timeout=TIMEOUT_MS)
        said = await old.page.inner_text("#sync-state")
        supported = await old.page.get_attribute("#sync-state", "data-supported")
        fox_said = await fox.page.inner_text("#sync-state")
    finally:
        for page in pages:
            await page.page.context.close()
        await firefox.close()
        await ada.leave()
    assert supported == "false"
    assert said.startswith("Sync mode cannot work in this browser"), said
    if has_it:
        assert "held back by" in fox_said, fox_said
    else:
        assert fox_said.startswith("Sync mode cannot work in this browser"), fox_said
