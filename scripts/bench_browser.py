"""The participant page's figures, in real headless Chromium and Firefox ESR against a real server
on loopback.

1. Join → first audio and join → first caption in a browser: a Python participant speaks in a
   loop; a fresh browser context clicks Join, and the page records (performance.now()) when the
   first packet of remote audio arrives and when the first caption is shown. p50 over N joins of
   each browser, the joins of the two alternating in one run.
2. Caption latency in the page with three browsers in the room (two speaking, one listening):
   PROTOCOL.md's received_unix - (clock_origin + end), read from the page's `livecaptions:caption`
   events, beside a Python client in the same room as the baseline (ratio page / Python).

    .venv/bin/python scripts/bench_browser.py              # 10 joins each, 60 s of meeting
    .venv/bin/python scripts/bench_browser.py --joins 5 --seconds 30 --browsers chromium
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from client import CaptionClient, WavTrack  # noqa: E402
from client.audio import RATE  # noqa: E402
from client.speech import synthesize  # noqa: E402
from sfu.config import ServerConfig  # noqa: E402
from sfu.server import CaptionServer  # noqa: E402
from tests.integration.browser_pages import (  # noqa: E402
    LEAD,
    MeetingPage,
    chromium_args,
    require_chromium,
    write_loop,
)
from tests.integration.firefox import PREFS, Firefox, require_firefox  # noqa: E402

ADA = "Good morning everyone. The budget for next year is finally approved."
BOB = "That is great news. I will tell the design team this afternoon."

# In the page: click Join, then resolve with [ms to first remote audio packet, ms to first caption].
JOIN_AND_TIME = """async () => {
    const t0 = performance.now();
    let caption = null;
    document.addEventListener("livecaptions:caption", () => {
        caption ??= performance.now() - t0; }, { once: true });
    document.getElementById("join").click();
    let audio = null;
    while (audio === null || caption === null) {
        if (performance.now() - t0 > 120000) break;
        if (audio === null) {
            const stats = await window.livecaptions.inboundAudio();
            if (stats.some((s) => s.packets > 0)) audio = performance.now() - t0;
        }
        await new Promise((r) => setTimeout(r, 20));
    }
    return [audio, caption];
}"""


def median_ms(values: Sequence[float | None]) -> str:
    got = [v for v in values if v is not None]
    return f"{statistics.median(got):7.0f} ms (n={len(got)})" if got else "    — (none)"


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def join_times(server: CaptionServer, browsers: dict[str, Any], joins: int) -> None:
    speech = np.concatenate([synthesize(ADA), np.zeros(round(LEAD * RATE), np.float32)])
    speaker = CaptionClient(
        f"ws://127.0.0.1:{server.port}/ws",
        room="bench-join",
        name="Ada",
        audio=WavTrack(speech, loop=True),
    )
    await speaker.join()
    audio: dict[str, list[float | None]] = {name: [] for name in browsers}
    caption: dict[str, list[float | None]] = {name: [] for name in browsers}
    try:
        for i in range(joins):
            for name, browser in browsers.items():  # alternate: both see the same machine
                context = await browser.new_context()
                page = await MeetingPage.open(context, server.url)
                await page.page.fill("#room", "bench-join")
                await page.page.fill("#name", f"{name} {i + 1}")
                await page.page.set_checked("#listen-only", True)
                first_audio, first_caption = await page.page.evaluate(JOIN_AND_TIME)
                audio[name].append(first_audio)
                caption[name].append(first_caption)
                await page.leave()
                await context.close()
    finally:
        await speaker.leave()
    for name in browsers:
        print(f"{name:8s} join → first audio   p50 {median_ms(audio[name])}")
        print(f"{name:8s} join → first caption p50 {median_ms(caption[name])}")


async def meeting_latency(server: CaptionServer, browsers: list[Any], seconds: float) -> None:
    pages = [await MeetingPage.open(await b.new_context(), server.url) for b in browsers]
    baseline = CaptionClient(f"ws://127.0.0.1:{server.port}/ws", room="bench-meet", name="Py")
    try:
        await pages[0].join("bench-meet", "Ada")
        await pages[0].wait_in_room()
        await pages[0].wait_until_words_end()  # Bob speaks in Ada's silence
        await pages[1].join("bench-meet", "Bob")
        await pages[2].join("bench-meet", "Carol", listen_only=True)
        await baseline.join()
        for page in pages:
            await page.wait_in_room()
        await asyncio.sleep(seconds)  # a benchmark: the meeting runs for this long
        py = [
            r.received_at - (baseline.joined.clock_origin + r.caption.end)  # type: ignore[union-attr]
            for r in baseline.captions
        ]
        report("python client (baseline)", py, py)
        for name, page in zip(("Ada", "Bob", "Carol"), pages, strict=True):
            shown = [c["receivedAt"] - (c["clockOrigin"] + c["end"]) for c in await page.captions()]
            report(f"page of {name}", shown, py)
    finally:
        await baseline.leave()
        for page in pages:
            await page.page.context.close()


def report(who: str, latencies: list[float], baseline: list[float]) -> None:
    if not latencies:
        print(f"{who:26s} no captions")
        return
    p50 = statistics.median(latencies)
    ratio = p50 / statistics.median(baseline) if baseline else float("nan")
    print(
        f"{who:26s} n={len(latencies):4d}  p50 {p50 * 1000:6.0f} ms  "
        f"p90 {quantile(latencies, 0.9) * 1000:6.0f} ms  p50 ratio to Python {ratio:4.2f}"
    )


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joins", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--browsers",
        default="chromium,firefox",
        help="comma-separated: whose joins to time (chromium, firefox)",
    )
    args = parser.parse_args(argv)
    timed = [name.strip() for name in args.browsers.split(",") if name.strip()]
    unknown = set(timed) - {"chromium", "firefox"}
    if unknown or not timed:
        parser.error(f"--browsers takes chromium and/or firefox, not {sorted(unknown) or '[]'}")
    from playwright.async_api import async_playwright

    chromium = require_chromium()
    if "firefox" in timed:
        require_firefox()
    server = CaptionServer(ServerConfig(port=0))
    await server.start()
    with tempfile.TemporaryDirectory() as tmp:
        ada, bob = synthesize(ADA), synthesize(BOB, voice="en-gb+m3")
        period = LEAD * 4 + (len(ada) + len(bob)) / RATE + 1.5
        wavs = [
            write_loop(Path(tmp) / f"{n}.wav", pcm, period) for n, pcm in (("a", ada), ("b", bob))
        ]
        async with async_playwright() as p:
            launched = [
                await p.chromium.launch(executable_path=chromium, args=chromium_args(wav))
                for wav in (*wavs, None)
            ]
            firefox = await Firefox.launch(PREFS) if "firefox" in timed else None
            try:
                joining = {"chromium": launched[2], "firefox": firefox}
                await join_times(server, {name: joining[name] for name in timed}, args.joins)
                await meeting_latency(server, launched, args.seconds)
            finally:
                for browser in launched:
                    await browser.close()
                if firefox is not None:
                    await firefox.close()
    await server.stop()


if __name__ == "__main__":
    asyncio.run(main())
