"""What a participant that spams the captions channel while never reading its socket costs.

    .venv/bin/python scripts/bench_channel_spam.py --messages 20000

Starts `livecaptions` on loopback, joins Mallory with a real aiortc peer, stops reading her
signaling socket, and sends N invalid `flag` messages on her channel. Prints the server's RSS
before, after, and after she is gone, whether the server cut her off, and how many error frames
it sent her (each invalid message is an error counted toward the socket's abuse limit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from client import CaptionClient  # noqa: E402
from scripts.soak import health, start_server  # noqa: E402


async def spam(url: str, process: psutil.Process, messages: int) -> None:
    rss = lambda: round(process.memory_info().rss / 2**20, 1)  # noqa: E731
    mallory = CaptionClient(url.replace("http://", "ws://") + "/ws", room="spam", name="Mallory")
    await mallory.join(timeout=60)
    before = rss()
    assert mallory._reader is not None
    mallory._reader.cancel()  # she stops reading her socket
    started = time.monotonic()
    assert mallory.channel is not None
    for n in range(messages):
        if mallory.channel.readyState != "open":
            break
        mallory.channel.send(json.dumps({"type": "flag", "segment": f"nope-{n}", "reason": "x"}))
        if n % 200 == 0:
            await asyncio.sleep(0)  # let aiortc put them on the wire
    sent = n + 1

    async def gone() -> None:
        while health(url)["participants"]:
            await asyncio.sleep(0.2)

    try:
        await asyncio.wait_for(gone(), 60)
        cut = True
    except TimeoutError:
        cut = False
    elapsed = time.monotonic() - started
    print(
        f"messages sent {sent}, server RSS before {before} MB, after {rss()} MB, "
        f"participant cut off: {cut} after {elapsed:.1f} s, "
        f"socket close code {mallory.close_code}"
    )
    await mallory.leave()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "spam")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    server, url = start_server(args.out)
    try:
        asyncio.run(spam(url, psutil.Process(server.pid), args.messages))
    finally:
        server.terminate()
        server.wait(timeout=60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
