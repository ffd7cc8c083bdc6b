"""Join latency through a relay vs direct, on a local two-node cluster.

Starts redis-server and two `livecaptions --redis` nodes on loopback (node 0 on CPU 0, node 1 on
CPU 1 when there are two), then, for each round, opens a room on node 0 and times one more join
through node 0 (direct) and one through node 1 (relayed to node 0), alternating which goes first.
A join is the reference client's: signaling, offer/answer, ICE, DTLS, data channel open. Prints
p50/p95 of each and their ratio; the two are measured in the same run, under the same load.

    .venv/bin/python scripts/bench_cluster.py --rounds 30
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from client import CaptionClient  # noqa: E402
from tests.servers import free_port  # noqa: E402


def start_node(redis_url: str, n: int, cpu: int | None) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "sfu", "--port", "0", "--log-level", "WARNING", "--no-log"),
            *("--redis", redis_url, "--node-id", f"node-{n}", "--cpu-threads", "1"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if cpu is not None:
        psutil.Process(process.pid).cpu_affinity([cpu])
    assert process.stdout is not None
    for line in process.stdout:
        if match := re.search(r"ready on http://127\.0\.0\.1:(\d+)", line):
            return process, int(match.group(1))
    raise RuntimeError(f"node {n} exited before it was ready")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(urls: list[str], rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"direct": [], "relayed": []}
    for r in range(rounds):
        room = f"bench-{r}"
        host = CaptionClient(urls[0], room=room, name="host")
        await host.join(timeout=30)
        order = [("direct", urls[0]), ("relayed", urls[1])]
        clients = []
        for kind, url in order if r % 2 == 0 else order[::-1]:
            client = CaptionClient(url, room=room, name=kind)
            started = time.perf_counter()
            await client.join(timeout=30)
            times[kind].append(time.perf_counter() - started)
            clients.append(client)
        for client in [*clients, host]:
            await client.leave()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    cores = sorted(psutil.Process().cpu_affinity())
    directory = tempfile.mkdtemp(prefix="bench-cluster-")
    redis_port = free_port()
    redis = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            directory,
        ],
        stdout=subprocess.DEVNULL,
    )
    nodes: list[subprocess.Popen[str]] = []
    try:
        ports = []
        for n in range(2):
            process, port = start_node(
                f"redis://127.0.0.1:{redis_port}/0", n, cores[n] if len(cores) >= 2 else None
            )
            nodes.append(process)
            ports.append(port)
        urls = [f"ws://127.0.0.1:{p}/ws" for p in ports]
        times = asyncio.run(measure(urls, args.rounds))
    finally:
        for process in [*nodes, redis]:
            process.terminate()
            process.wait(30)
    print(
        f"join latency, {args.rounds} joins each, {len(cores)} cores, load average "
        f"{psutil.getloadavg()[0]:.1f}"
    )
    for kind, values in times.items():
        print(
            f"  {kind:8s} p50 {statistics.median(values) * 1000:6.1f} ms   "
            f"p95 {percentile(values, 0.95) * 1000:6.1f} ms"
        )
    ratio = statistics.median(times["relayed"]) / statistics.median(times["direct"])
    print(f"  relayed / direct (p50): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
