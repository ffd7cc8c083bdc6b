"""One headless load-test run: start (or target) a server, run N locust users for T seconds, and
write locust's CSV and HTML, summary.json (caption latency p50/p95/p99, WER, failures, server CPU
and memory) and latency.png (caption latency over time against the number of users).

    python loadtests/run.py --users 4 --duration 60 --out out/load-4
    python loadtests/run.py --users 8 --room-size 2 --url ws://127.0.0.1:8080/ws --server-pid 1234
    python loadtests/run.py --users 8 --nodes 2 --pin --out out/load-2n   # Redis + 2 nodes
    python loadtests/run.py --users 8 --url ws://A/ws --url ws://B/ws      # a running cluster

Users are spread over the nodes in turn (so one room's participants arrive through different
nodes, and some signaling is relayed); summary.json then reports per node as well.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtests.report import Sample, per_node, plot, read_events, summarize  # noqa: E402
from loadtests.scenario import ClipsError, check_clips  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def children_cpu_seconds() -> float:
    """CPU time of the child processes waited for so far (locust, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpus(pin: bool, server: bool) -> list[int] | None:
    available = sorted(psutil.Process().cpu_affinity())
    if not pin or len(available) < 2:
        return None
    return available[:1] if server else available[1:]


def node_cpus(pin: bool, nodes: int) -> tuple[list[list[int]] | None, list[int] | None]:
    """With --pin: one core per node (the first ones), the load clients on the rest."""
    available = sorted(psutil.Process().cpu_affinity())
    if not pin or len(available) < nodes:
        return None, None
    return [[c] for c in available[:nodes]], available[nodes:] or None


def start_redis(port: int, directory: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            *("redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "no", "--dir", str(directory)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("redis-server did not start in 30 s")


def start_server(
    port: int,
    log: Path,
    *,
    pin: bool,
    threads: int | None,
    extra: list[str],
    server_cpus: list[int] | None = None,
    db: Path | None = None,
) -> subprocess.Popen[bytes]:
    server_cpus = server_cpus or cpus(pin, server=True)
    count = threads or (len(server_cpus) if server_cpus else None)
    threads_args = ["--cpu-threads", str(count), *extra] if count else extra
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "sfu", "--port", str(port), "--log-level", "WARNING"),
            *("--log-db", str(db or log.with_name("captions.db"))),  # the run's log, kept
            *threads_args,
        ],
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    if server_cpus:
        psutil.Process(process.pid).cpu_affinity(server_cpus)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if json.load(r)["status"] == "ok":
                    return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not become healthy in 60 s")


def read_metrics(url: str) -> str | None:
    http = url.replace("ws://", "http://").replace("wss://", "https://").removesuffix("/ws")
    try:
        with urllib.request.urlopen(f"{http}/metrics", timeout=5) as response:
            body: bytes = response.read()
            return body.decode()
    except OSError:
        return None


def sample(
    pid: int, url: str, samples: list[Sample], metrics: list[str], stop: threading.Event
) -> None:
    """Server CPU and memory every second; /metrics every 5 s, kept while participants are in
    (room-level figures vanish when the rooms close at the end)."""
    process = psutil.Process(pid)
    process.cpu_percent(None)
    ticks = 0
    while not stop.wait(1.0):
        ticks += 1
        try:
            samples.append(
                Sample(time.time(), process.cpu_percent(None), process.memory_info().rss)
            )
        except psutil.Error:
            return
        if ticks % 5 == 0:
            text = read_metrics(url)
            if text is not None and "\nlivecaptions_participants 0.0" not in text:
                metrics[:] = [text]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--spawn-rate", type=float, default=1.0)
    parser.add_argument("--duration", type=int, default=60, help="seconds")
    parser.add_argument("--room-size", type=int, default=2)
    parser.add_argument("--speakers-per-room", type=int, default=1)
    parser.add_argument("--clips", default=str(ROOT / "loadtests" / "clips.json"))
    parser.add_argument(
        "--full-listeners",
        action="store_true",
        help="listeners decode every packet like a real participant (costly); by default they "
        "count the forwarded packets without decoding, so that one machine simulates many",
    )
    parser.add_argument(
        "--url",
        action="append",
        help="signaling URL of a running server (default: start one); repeat it for the nodes "
        "of a cluster",
    )
    parser.add_argument(
        "--server-pid", type=int, action="append", help="with --url: sample this process"
    )
    parser.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="start Redis and this many cluster nodes (with --pin, each on its own core)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "load")
    parser.add_argument("--engine-threads", type=int, help="the server's --cpu-threads")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="one more argument for the server it starts (repeatable), e.g. "
        "--server-arg=--engine=kyutai --server-arg=--checkpoint=out/tiny",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="run the server on CPU 0 and the load clients on the other CPUs, so that they do "
        "not share a core (load clients cost about as much CPU as the server)",
    )
    args = parser.parse_args(argv)
    try:  # before any server starts: a bad clips file is one line, not an empty summary
        check_clips(args.clips)
    except ClipsError as exc:
        print(f"run.py: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    events_file = args.out / "events.jsonl"
    events_file.unlink(missing_ok=True)

    started: list[subprocess.Popen[bytes]] = []
    urls, pids = list(args.url or []), list(args.server_pid or [])
    client_cpus = cpus(args.pin, server=False)
    try:
        if not urls:
            urls, pids, client_cpus = start_nodes(args, started)
        url = ",".join(urls)
        samples: dict[str, list[Sample]] = {u: [] for u in urls}
        metrics: dict[str, list[str]] = {u: [] for u in urls}
        stop = threading.Event()
        for node, pid in zip(urls, pids, strict=False):
            threading.Thread(
                target=sample, args=(pid, node, samples[node], metrics[node], stop), daemon=True
            ).start()
        clients_before, wall_before = children_cpu_seconds(), time.monotonic()
        result = run_locust(args, url, events_file, client_cpus)
        clients_cpu = children_cpu_seconds() - clients_before
        clients_wall = time.monotonic() - wall_before
        stop.set()
        for node in urls:
            name = "metrics.txt" if len(urls) == 1 else f"metrics-{urls.index(node)}.txt"
            (args.out / name).write_text(
                metrics[node][0] if metrics[node] else read_metrics(node) or ""
            )
    finally:
        for process in reversed(started):
            process.terminate()
            process.wait(timeout=30)
    events = read_events(events_file)
    everything = [s for node in urls for s in samples[node]]
    summary = summarize(events, everything, users=args.users, seconds=args.duration)
    summary["locust_exit_code"] = result.returncode
    # The load clients' own CPU (locust and its aiortc participants): on the server's cores
    # unless --pin, it is CPU the server did not have.
    summary["clients_cpu_percent_mean"] = round(100 * clients_cpu / clients_wall, 1)
    if len(urls) > 1:
        summary["nodes"] = per_node(events)
        for node, report in summary["nodes"].items():
            cpu = [s.cpu_percent for s in samples.get(node, [])]
            report["cpu_percent_median"] = round(float(np.median(cpu)), 1) if cpu else None
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    plot(events, args.out / "latency.png")
    print(json.dumps(summary, indent=2))
    print(f"\nwrote {args.out}/summary.json, latency.png, locust.html, locust_*.csv")
    if result.returncode != 0:
        print(f"run.py: locust exited with {result.returncode}: see {args.out}/locust.log")
        return 1
    if not summary["joins"]["count"]:  # an empty summary is a failed run, never a pass
        print(f"run.py: no participant joined: see {args.out}/locust.log", file=sys.stderr)
        return 1
    return 0


def start_nodes(
    args: argparse.Namespace, started: list[subprocess.Popen[bytes]]
) -> tuple[list[str], list[int], list[int] | None]:
    """One server (--nodes 1, as before), or Redis and N cluster nodes; their URLs and pids."""
    if args.nodes == 1:
        port = free_port()
        server = start_server(
            port,
            args.out / "server.log",
            pin=args.pin,
            threads=args.engine_threads,
            extra=args.server_arg,
        )
        started.append(server)
        return [f"ws://127.0.0.1:{port}/ws"], [server.pid], cpus(args.pin, server=False)
    per_node, client_cpus = node_cpus(args.pin, args.nodes)
    redis_port = free_port()
    started.append(start_redis(redis_port, args.out))
    urls, pids = [], []
    for n in range(args.nodes):
        port = free_port()
        cluster = ["--redis", f"redis://127.0.0.1:{redis_port}/0", "--node-id", f"node-{n}"]
        server = start_server(
            port,
            args.out / f"server-{n}.log",
            pin=args.pin,
            threads=args.engine_threads,
            extra=[*cluster, *args.server_arg],
            server_cpus=per_node[n] if per_node else None,
            db=args.out / f"captions-{n}.db",
        )
        started.append(server)
        urls.append(f"ws://127.0.0.1:{port}/ws")
        pids.append(server.pid)
    return urls, pids, client_cpus


def run_locust(
    args: argparse.Namespace, url: str, events_file: Path, client_cpus: list[int] | None
) -> subprocess.CompletedProcess[bytes]:
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(ROOT / "loadtests" / "locustfile.py"),
        "--headless",
        "--host",
        url,
        "-u",
        str(args.users),
        "-r",
        str(args.spawn_rate),
        "-t",
        f"{args.duration}s",
        "--only-summary",
        "--csv",
        str(args.out / "locust"),
        "--csv-full-history",
        "--html",
        str(args.out / "locust.html"),
        "--room-size",
        str(args.room_size),
        "--speakers-per-room",
        str(args.speakers_per_room),
        "--clips",
        args.clips,
        "--events-file",
        str(events_file),
        "--exit-code-on-error",
        "0",
        *(["--full-listeners"] if args.full_listeners else []),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if client_cpus:
        command = ["taskset", "-c", ",".join(map(str, client_cpus)), *command]
    with (args.out / "locust.log").open("w") as log:
        return subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


if __name__ == "__main__":
    sys.exit(main())
