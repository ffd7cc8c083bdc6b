"""A real headless Chromium joins through the page with a fake microphone fed from a WAV."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from sfu.server import CaptionServer

from .browser_pages import CHROMIUM, TIMEOUT_MS, MeetingPage, chromium_args, overlap, write_loop
from .conftest import client

__all__ = ["CHROMIUM"]  # test_review_browser imports it from here

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.browser]


@pytest.fixture
def chromium() -> str:
    if shutil.which(CHROMIUM) is None:
        pytest.fail("Chromium is not installed: apt-get install chromium")
    return CHROMIUM


async def test_spoken_words_appear_in_the_page(
    server: CaptionServer, speech: dict[str, tuple[np.ndarray, str]], tmp_path: Path, chromium: str
) -> None:
    from playwright.async_api import async_playwright

    pcm, text = speech["report"]
    wav = write_loop(tmp_path / "speech.wav", pcm)
    bob = client(server, "browser", "Bob")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=chromium_args(wav))
        try:
            page = await MeetingPage.open(await browser.new_context(), server.url)
            await page.join("browser", "Chloe")
            await bob.join()
            await page.page.wait_for_function(
                "window.__captions.some((c) => c.final && c.text.toLowerCase().includes('friday'))",
                timeout=TIMEOUT_MS,
            )
            finals = [c for c in await page.captions() if c["final"] and c["text"]]
            participants = await page.page.inner_text("#participants")
            live = await page.page.get_attribute("#captions-live", "aria-live")
        finally:
            await browser.close()
            await bob.leave()
    assert overlap(" ".join(c["text"] for c in finals), text) >= 0.6, finals
    assert {c["speaker"]["name"] for c in finals} == {"Chloe"}
    assert "Bob" in participants and live == "polite"
    # Bob, a Python client, heard Chloe's microphone through the SFU and got her captions.
    assert bob.remote_audio_peak > 0.05
    assert any(c.speaker and c.speaker.name == "Chloe" for c in bob.finals())
