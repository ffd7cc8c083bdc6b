"""Join to first decoded remote frame, with and without the SFU's keyframe relay.

One room on an in-process server: a publisher with a synthetic VP8 camera (aiortc encodes it;
its encoder makes a keyframe only every 3000 frames unless asked), then `--joins` viewers joining
one after the other, each timed from the start of its join to the first frame of the publisher's
camera it decodes. "without relay" makes the server's video taps drop their keyframe requests
(the bench's switch, not a server option), so a late viewer waits for the next keyframe the
publisher makes on its own (aiortc: every 100 s), or for `--timeout`.

    python scripts/bench_video.py                 # 10 joins each way
    python scripts/bench_video.py --joins 5 --timeout 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from client import CaptionClient  # noqa: E402
from client.camera import SyntheticCamera  # noqa: E402
from sfu.config import ServerConfig  # noqa: E402
from sfu.media.video import VideoTap  # noqa: E402
from sfu.server import CaptionServer  # noqa: E402


async def time_to_picture(url: str, room: str, publisher: str, timeout: float) -> float | None:
    viewer = CaptionClient(url, room=room, name="Viewer")
    started = time.monotonic()
    try:
        await viewer.join()
        deadline = started + timeout
        while not viewer.video_from.get(publisher, {}).get("camera"):
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.01)
        return time.monotonic() - started
    finally:
        await viewer.leave()


async def run(joins: int, timeout: float, relay: bool) -> list[float | None]:
    server = CaptionServer(ServerConfig(port=0))
    await server.start()
    url = f"ws://127.0.0.1:{server.port}/ws"
    room = f"bench-video-{'relay' if relay else 'norelay'}"
    publisher = CaptionClient(url, room=room, name="Ada", camera=SyntheticCamera())
    try:
        joined = await publisher.join()
        # Let the publisher's first keyframe pass: every viewer is a late joiner.
        await asyncio.sleep(2.0)
        return [await time_to_picture(url, room, joined.participant, timeout) for _ in range(joins)]
    finally:
        await publisher.leave()
        await server.stop()


def report(name: str, times: list[float | None]) -> None:
    seen = [t for t in times if t is not None]
    p50 = f"{statistics.median(seen) * 1000:.0f} ms" if seen else "-"
    worst = f"{max(seen) * 1000:.0f} ms" if seen else "-"
    print(f"{name:>15}: picture in {len(seen)}/{len(times)} joins; p50 {p50}, max {worst}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joins", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per join")
    args = parser.parse_args(argv)
    with_relay = asyncio.run(run(args.joins, args.timeout, relay=True))
    original = VideoTap._send_pli
    VideoTap._send_pli = lambda self: None  # type: ignore[method-assign]  # the "without" arm
    try:
        without = asyncio.run(run(args.joins, args.timeout, relay=False))
    finally:
        VideoTap._send_pli = original  # type: ignore[method-assign]
    report("with relay", with_relay)
    report("without relay", without)


if __name__ == "__main__":
    main()
