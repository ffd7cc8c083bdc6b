"""Three Chromium pages with fake cameras decode each other's video while they hear each other and
read the room's captions; a fourth joining late, without microphone but with a camera (a signer),
decodes every camera at once (the SFU relayed its keyframe requests) and is seen by the others;
camera off and on is seen by the others with no renegotiation; a shared screen appears large and,
once stopped, is seen stopped at once."""

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio

from sfu.server import CaptionServer

from .browser_pages import TIMEOUT_MS, MeetingPage, chromium_args, require_chromium
from .scripted import scripted_server

# The others' video elements: in their tiles (tiles.js), beside this page's own previews.
REMOTE = "#tiles video:not([data-local])"
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.browser]

ROOM = "video-browser"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server() -> AsyncIterator[CaptionServer]:
    """Captions of whatever the room hears (the pages' tones), every second."""
    async with scripted_server(1.0) as server:
        yield server


async def decodes(page: MeetingPage, ids: list[str], timeout_ms: int = TIMEOUT_MS) -> None:
    await page.wait_for_video_from(ids, timeout_ms)


async def test_cameras_screens_and_a_late_joiner(server: CaptionServer, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    tone = 0.2 * np.sin(2 * np.pi * 330 * np.arange(48_000 * 2) / 48_000)
    wav = tmp_path / "tone.wav"
    import soundfile as sf

    sf.write(wav, tone.astype(np.float32), 48_000, subtype="PCM_16")
    args = [*chromium_args(wav), "--auto-select-desktop-capture-source=Entire screen"]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=require_chromium(), args=args)
        try:
            pages: list[MeetingPage] = []
            for name in ("Ada", "Bob", "Cy"):
                page = await MeetingPage.open(await browser.new_context(), server.url)
                await page.page.wait_for_selector("#camera[data-ready]", state="attached")
                assert await page.page.is_checked("#camera")  # a (fake) camera exists
                await page.join(ROOM, name)
                pages.append(page)
            for page in pages:
                await page.wait_in_room()
            ids = [await page.participant_id() for page in pages]
            for page, me in zip(pages, ids, strict=True):
                await decodes(page, [i for i in ids if i != me])
                await page.wait_for_audio_from(
                    {n for n in ("Ada", "Bob", "Cy")} - {await page.page.input_value("#name")}
                )
            for page in pages:  # captions work as before, cameras on
                await page.page.wait_for_function(
                    "window.__captions.some((c) => c.final && c.text)", timeout=TIMEOUT_MS
                )
            elements = await pages[0].page.eval_on_selector_all(
                REMOTE,
                "(vs) => vs.map((v) => [v.dataset.participant, v.dataset.source])",
            )
            assert sorted(elements) == sorted([[ids[1], "camera"], [ids[2], "camera"]])

            # A fourth joins late: every camera decodes at once, because the SFU relays the
            # keyframe requests its routes cause (Chromium sends no periodic keyframe: without
            # the relay it would wait for one indefinitely). How fast is a benchmark's figure
            # (scripts/bench_video.py: p50 about 0.3 s); here a bound of 5 s that a loaded CI
            # machine keeps (2 s was missed once, at 2.2 s).
            # Dee joins "without microphone" but with her camera, as a signer who does not speak
            # does: the others see her.
            relayed = sum(room.video.keyframe_requests for room in server.rooms.values())
            late = await MeetingPage.open(await browser.new_context(), server.url)
            await late.join(ROOM, "Dee", listen_only=True, camera=True)
            await late.wait_in_room()
            await decodes(late, ids, timeout_ms=5000)
            assert sum(room.video.keyframe_requests for room in server.rooms.values()) > relayed
            dee = await late.participant_id()
            for page in pages:
                await decodes(page, [dee])

            # Camera off, then on: the others are told; nobody renegotiates.
            offers = [await page.page.evaluate("window.livecaptions.offers") for page in pages]
            await pages[0].page.set_checked("#camera", False)
            for page in pages[1:]:
                await page.page.wait_for_function(
                    "(id) => window.livecaptions.media()[id]?.camera === false", arg=ids[0]
                )
                hidden = await page.page.eval_on_selector(
                    f"{REMOTE}[data-participant='{ids[0]}'][data-source='camera']",
                    "(v) => v.hidden",
                )
                assert hidden
                # …and the tile shows the name's initials and says "camera off" (tiles.js).
                tile = f"#tiles .tile[data-key='{ids[0]}']"
                assert await page.page.get_attribute(tile, "data-camera") == "off"
                assert "camera off" in await page.page.inner_text(f"{tile} .tile-state")
            await pages[0].page.set_checked("#camera", True)
            for page in pages[1:]:
                await page.page.wait_for_function(
                    "(id) => window.livecaptions.media()[id]?.camera === true", arg=ids[0]
                )
                await decodes(page, [ids[0]])
            after = [await page.page.evaluate("window.livecaptions.offers") for page in pages]
            assert after == offers, "a camera toggle renegotiated"

            # Bob shares a screen; the others see it; he stops; they are told at once.
            await pages[1].page.click("#screen")
            for page in (pages[0], pages[2]):
                await page.page.wait_for_selector(
                    f"{REMOTE}[data-participant='{ids[1]}'][data-source='screen']",
                    timeout=TIMEOUT_MS,
                )
                await page.page.wait_for_function(
                    "(id) => window.livecaptions.media()[id]?.screen === true", arg=ids[1]
                )
                # Shown large: a tile of its own across the grid, first (tiles.js, style.css).
                await page.page.wait_for_selector(
                    f"#tiles .tile[data-key='{ids[1]}:screen'][data-large='true']",
                    timeout=TIMEOUT_MS,
                )
            await pages[1].page.click("#screen")
            for page in (pages[0], pages[2]):
                await page.page.wait_for_function(
                    "(id) => window.livecaptions.media()[id]?.screen === false", arg=ids[1]
                )
                assert await page.page.eval_on_selector(
                    f"{REMOTE}[data-participant='{ids[1]}'][data-source='screen']",
                    "(v) => v.hidden",
                )
        finally:
            await browser.close()


# The camera prompt is never answered (a person who walked away from it, or a browser that keeps
# it behind another window): getUserMedia for video never settles.
UNANSWERED_CAMERA = """
const ask = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = (c) => (c && c.video ? new Promise(() => {}) : ask(c));
"""


async def test_an_unanswered_camera_prompt_keeps_nobody_out(
    server: CaptionServer, tmp_path: Path
) -> None:
    """The join does not wait for the camera: a page whose camera prompt is still open is in the
    room, heard by the others, and its camera is still asked for (the picture follows when the
    prompt is answered)."""
    from playwright.async_api import async_playwright

    tone = 0.2 * np.sin(2 * np.pi * 330 * np.arange(48_000 * 2) / 48_000)
    wav = tmp_path / "tone.wav"
    import soundfile as sf

    sf.write(wav, tone.astype(np.float32), 48_000, subtype="PCM_16")
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=require_chromium(), args=chromium_args(wav)
        )
        try:
            waiting = await MeetingPage.open(
                await browser.new_context(), server.url, "", (UNANSWERED_CAMERA,)
            )
            await waiting.join("prompt-open", "Ada", camera=True)
            await waiting.wait_in_room()
            other = await MeetingPage.open(await browser.new_context(), server.url)
            await other.join("prompt-open", "Bob", camera=False)
            await other.wait_in_room()
            await other.wait_for_audio_from({"Ada"})
            assert await waiting.page.is_checked("#camera")  # still asked for, not given up
            assert await waiting.page.query_selector("video[data-local]") is None
        finally:
            await browser.close()
