"""Page turn to picture: how long a viewer waits for the camera the server switches to.

One room on an in-process server forwarding one camera to each participant: Ada and Bob publish
synthetic VP8 cameras of different sizes (so the viewer can tell whose frame it decoded), and a
viewer turns its one-tile page from Ada to Bob and back (`view`). "switch": the server moves its
one video section to the other camera (no offer; a keyframe asked of the new source). "renegotiate":
the viewer first shows an empty page (the section goes inactive: an offer), then the other camera
(the section is reused: another offer), as a change of sources did before issue 22's switch.
Each turn is timed from sending the `view` to the first decoded frame of the new camera's size.

    python scripts/bench_camera_switch.py              # 10 turns each way
    python scripts/bench_camera_switch.py --turns 20
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
from sfu.server import CaptionServer  # noqa: E402

SIZES = {"Ada": (160, 120), "Bob": (176, 144)}


async def picture_of(viewer: CaptionClient, size: tuple[int, int], timeout: float) -> None:
    """Until the viewer's last decoded frame on some section has `size`."""
    deadline = time.monotonic() + timeout
    while size not in viewer.video_sizes.values():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no frame of {size} in {timeout} s")
        await asyncio.sleep(0.005)


async def turn(viewer: CaptionClient, to: str, who: str, renegotiate: bool) -> float:
    viewer.video_sizes.clear()
    if renegotiate:
        offers = viewer.offers
        await viewer.view(visible=[])
        while viewer.offers == offers:  # the section went inactive
            await asyncio.sleep(0.005)
    started = time.monotonic()
    await viewer.view(visible=[to])
    await picture_of(viewer, SIZES[who], 10.0)
    return time.monotonic() - started


async def run(turns: int) -> dict[str, list[float]]:
    server = CaptionServer(ServerConfig(port=0, max_subscriber_video=1))
    await server.start()
    url = f"ws://127.0.0.1:{server.port}/ws"
    cameras = {
        name: CaptionClient(url, room="bench", name=name, camera=SyntheticCamera(width=w, height=h))
        for name, (w, h) in SIZES.items()
    }
    viewer = CaptionClient(url, room="bench", name="Zoe")
    try:
        ids = {name: (await c.join()).participant for name, c in cameras.items()}
        await viewer.join()
        await turn(viewer, ids["Ada"], "Ada", renegotiate=False)  # the section exists now
        results: dict[str, list[float]] = {"switch": [], "renegotiate": []}
        for i in range(turns * 2):
            how = "switch" if i % 2 == 0 else "renegotiate"
            who = "Bob" if (i // 2) % 2 == 0 else "Ada"
            results[how].append(await turn(viewer, ids[who], who, how == "renegotiate"))
        return results
    finally:
        for participant in (*cameras.values(), viewer):
            await participant.leave()
        await server.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=10, help="turns each way (default 10)")
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.turns))
    for how, times in results.items():
        ms = sorted(round(t * 1000) for t in times)
        median = statistics.median(ms)
        print(f"{how:12} median {median:6.0f} ms  min {ms[0]} max {ms[-1]}  n={len(ms)}")
    ratio = statistics.median(results["renegotiate"]) / statistics.median(results["switch"])
    print(f"renegotiate / switch (medians): {ratio:.2f}")


if __name__ == "__main__":
    main()
