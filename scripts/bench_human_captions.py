"""A human captioner's keypress → the caption on a participant's screen, in real headless browsers
against a real server on loopback.

The captioner page (Chromium) types each line and presses Enter; the time of that keydown is the
start. Participants' pages (another Chromium, and Firefox ESR) record when the line appears in
their caption area and then the next animation frame, the one that paints it (`performance.
timeOrigin + performance.now()`: the browsers share this machine's clock). The room also carries
automatic captions: a Python participant speaks JFK's recording in a loop, captioned by the
embedded engine, so that the server is as busy as in a meeting.

Prints, per participant browser, p50 / p95 / max of keypress → on screen, and of keypress → the
server's acknowledgement in the captioner page, over N lines sent one every `--interval` seconds.

    .venv/bin/python scripts/bench_human_captions.py                 # 60 lines, both browsers
    .venv/bin/python scripts/bench_human_captions.py --lines 30 --browsers chromium --no-speaker
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from access import (  # noqa: E402
    CAPTIONER_GRANTS,
    DEFAULT_GRANTS,
    Grant,
    KeyRing,
)
from access.config import AccessConfig  # noqa: E402
from captionlog.log import LogConfig  # noqa: E402
from client import CaptionClient, WavTrack, load_audio  # noqa: E402
from sfu.config import ServerConfig  # noqa: E402
from sfu.server import CaptionServer  # noqa: E402
from tests.integration.browser_pages import (  # noqa: E402
    MeetingPage,
    chromium_args,
    require_chromium,
)
from tests.integration.firefox import PREFS, Firefox, require_firefox  # noqa: E402
from tests.integration.minting import room_token  # noqa: E402

ROOM = "bench"
TIMEOUT_MS = 120_000
# In the captioner page: when Enter went down in the line's field, and when the server answered.
CAPTIONER_CLOCK = """
window.__enter = [];
document.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && e.target.id === "line") {
    window.__enter.push({text: e.target.value.trim(), at: performance.timeOrigin + e.timeStamp});
  }
}, true);
window.__acked = {};
new MutationObserver(() => {
  for (const li of document.querySelectorAll('#sent li[data-state="sent"]')) {
    if (!(li.textContent in window.__acked)) {
      window.__acked[li.textContent] = performance.timeOrigin + performance.now();
    }
  }
}).observe(document, {subtree: true, childList: true, attributes: true});
"""
# In a participant's page: when each human line was in the caption area, then painted.
PARTICIPANT_CLOCK = """
window.__shown = {};
window.__painted = {};
window.__ready = false;
document.addEventListener("livecaptions:status", () => { window.__ready = true; });
new MutationObserver(() => {
  for (const p of document.querySelectorAll('#captions p[data-source="human"]')) {
    const text = p.querySelector(".text").textContent;
    if (text in window.__shown) continue;
    window.__shown[text] = performance.timeOrigin + performance.now();
    requestAnimationFrame(() => {
      window.__painted[text] = performance.timeOrigin + performance.now();
    });
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def token(keys: KeyRing, identity: str, grants: frozenset[Grant]) -> str:
    return room_token(keys, ROOM, identity, grants, ttl=7200)


def summary(values: Sequence[float]) -> str:
    if not values:
        return "none"
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return (
        f"p50 {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms  max {ms[-1]:6.1f} ms  "
        f"(n={len(ms)})"
    )


async def open_participant(browser: Any, base: str, keys: KeyRing, name: str) -> MeetingPage:
    page = await MeetingPage.open(await browser.new_context(), base, "", (PARTICIPANT_CLOCK,))
    await page.join(ROOM, name, token=token(keys, name, DEFAULT_GRANTS), listen_only=True)
    await page.wait_in_room()
    await page.page.wait_for_function("window.__ready", timeout=TIMEOUT_MS)
    return page


async def run(args: argparse.Namespace) -> None:
    from playwright.async_api import async_playwright

    keys = KeyRing.ephemeral()
    with tempfile.TemporaryDirectory() as tmp:
        config = ServerConfig(
            port=0,
            access=AccessConfig(keys=keys),
            log=LogConfig(path=Path(tmp) / "captions.db"),
        )
        server = CaptionServer(config)
        await server.start()
        base = f"http://127.0.0.1:{server.port}"
        speaker = None
        if not args.no_speaker:
            audio = np.concatenate([load_audio(ROOT / "tests/data/jfk.flac"), np.zeros(24_000)])
            speaker = CaptionClient(
                f"ws://127.0.0.1:{server.port}/ws",
                room=ROOM,
                name="Ada",
                audio=WavTrack(audio.astype(np.float32), loop=True),
                token=token(keys, "ada", DEFAULT_GRANTS),
            )
            await speaker.join()
        async with async_playwright() as p:
            chromium = require_chromium()
            flags = chromium_args(None, grant_microphone=False)
            browsers: dict[str, Any] = {
                "captioner": await p.chromium.launch(executable_path=chromium, args=flags)
            }
            if "chromium" in args.browsers:
                browsers["chromium"] = await p.chromium.launch(executable_path=chromium, args=flags)
            if "firefox" in args.browsers:
                require_firefox()
                browsers["firefox"] = await Firefox.launch(PREFS)
            try:
                await measure(args, browsers, base, keys)
            finally:
                for browser in browsers.values():
                    await browser.close()
        if speaker is not None:
            await speaker.leave()
        await server.stop()


async def measure(args: argparse.Namespace, browsers: dict[str, Any], base: str, keys: KeyRing):
    participants = {
        name: await open_participant(browser, base, keys, f"reader-{name}")
        for name, browser in browsers.items()
        if name != "captioner"
    }
    captioner = await (await browsers["captioner"].new_context()).new_page()
    await captioner.add_init_script(CAPTIONER_CLOCK)
    await captioner.goto(
        f"{base}/captioner/?room={ROOM}&token={token(keys, 'cy', CAPTIONER_GRANTS)}"
    )
    await captioner.click("#join")
    await captioner.wait_for_function(
        "document.getElementById('mode-instead').checked", timeout=TIMEOUT_MS
    )
    lines = [f"Line {n}: the committee approves item {n} of the agenda." for n in range(args.lines)]
    await captioner.click("#line")
    for line in lines:
        started = time.monotonic()
        await captioner.keyboard.type(line)
        await captioner.keyboard.press("Enter")
        await asyncio.sleep(max(0.0, args.interval - (time.monotonic() - started)))
    for page in participants.values():
        await page.page.wait_for_function(
            "(n) => Object.keys(window.__painted).length >= n", arg=len(lines), timeout=TIMEOUT_MS
        )
    enter = {e["text"]: e["at"] / 1000 for e in await captioner.evaluate("window.__enter")}
    acked = {k: v / 1000 for k, v in (await captioner.evaluate("window.__acked")).items()}
    print(
        f"{len(lines)} lines, one every {args.interval} s; automatic captions: "
        f"{'off' if args.no_speaker else 'a speaker in the room'}"
    )
    print(
        f"  keypress -> server acknowledged (captioner page): "
        f"{summary([acked[t] - enter[t] for t in lines if t in acked])}"
    )
    for name, page in participants.items():
        shown = await page.page.evaluate("window.__shown")
        painted = await page.page.evaluate("window.__painted")
        print(
            f"  keypress -> in the page, {name:8}: "
            f"{summary([shown[t] / 1000 - enter[t] for t in lines if t in shown])}"
        )
        print(
            f"  keypress -> painted,     {name:8}: "
            f"{summary([painted[t] / 1000 - enter[t] for t in lines if t in painted])}"
        )
    for page in participants.values():
        await page.page.context.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=60, help="lines the captioner sends")
    parser.add_argument("--interval", type=float, default=1.5, help="seconds between lines")
    parser.add_argument(
        "--browsers",
        type=lambda v: v.split(","),
        default=["chromium", "firefox"],
        help="participants' browsers: chromium,firefox",
    )
    parser.add_argument("--no-speaker", action="store_true", help="no automatic captions")
    args = parser.parse_args(argv)
    if args.lines < 1 or args.interval <= 0:
        parser.error("--lines must be at least 1 and --interval positive")
    unknown = set(args.browsers) - {"chromium", "firefox"}
    if unknown:
        parser.error(f"unknown browser {sorted(unknown)[0]!r}: chromium, firefox")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
