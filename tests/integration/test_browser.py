"""A real headless Chromium joins through the page with a fake microphone fed from a WAV."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from client.audio import RATE
from client.speech import normalize_text
from sfu.server import CaptionServer

from .conftest import client

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"


def chromium_args(wav: Path) -> list[str]:
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
    ]


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
    wav = tmp_path / "speech.wav"
    lead = np.zeros(RATE, np.float32)  # a second of silence before the words, every loop
    sf.write(wav, np.concatenate([lead, pcm, lead]), RATE, subtype="PCM_16")
    bob = client(server, "browser", "Bob")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=chromium_args(wav))
        try:
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{server.port}/")
            # Older lines scroll away: record every final line the page ever shows.
            await page.evaluate("""() => {
                window.seen = [];
                new MutationObserver((records) => records.forEach((r) => r.addedNodes.forEach(
                    (n) => window.seen.push(n.textContent)))
                ).observe(document.getElementById('captions-final'), {childList: true});
            }""")
            await page.fill("#room", "browser")
            await page.fill("#name", "Chloe")
            await page.click("#join")
            await bob.join()
            await page.wait_for_function(
                "window.seen.join(' ').toLowerCase().includes('friday')", timeout=90_000
            )
            shown = " ".join(await page.evaluate("window.seen"))
            speakers = await page.eval_on_selector_all(
                "#captions-final .speaker", "els => els.map(e => e.textContent)"
            )
            participants = await page.inner_text("#participants")
            live = await page.get_attribute("#captions-final", "aria-live")
        finally:
            await browser.close()
            await bob.leave()
    words = set(normalize_text(shown).split())
    expected = set(normalize_text(text).split())
    assert len(words & expected) >= 0.6 * len(expected), shown
    assert set(speakers) == {"Chloe:"}
    assert "Bob" in participants and live == "polite"
    # Bob, a Python client, heard Chloe's microphone through the SFU and got her captions.
    assert bob.remote_audio_peak > 0.05
    assert any(c.speaker and c.speaker.name == "Chloe" for c in bob.finals())
