"""One headless load-test run: start (or target) a server, run N locust users for T seconds, and
write locust's CSV and HTML, summary.json (caption latency p50/p95/p99, WER, failures, server CPU
and memory) and latency.png (caption latency over time against the number of users).

    python loadtests/run.py --users 4 --duration 60 --out out/load-4
    python loadtests/run.py --users 8 --room-size 2 --url ws://127.0.0.1:8080/ws --server-pid 1234
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtests.report import Sample, plot, read_events, summarize  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpus(pin: bool, server: bool) -> list[int] | None:
    available = sorted(psutil.Process().cpu_affinity())
    if not pin or len(available) < 2:
        return None
    return available[:1] if server else available[1:]


def start_server(
    port: int, log: Path, *, pin: bool, threads: int | None, extra: list[str]
) -> subprocess.Popen:
    server_cpus = cpus(pin, server=True)
    count = threads or (len(server_cpus) if server_cpus else None)
    threads_args = ["--cpu-threads", str(count), *extra] if count else extra
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "sfu", "--port", str(port), "--log-level", "WARNING"),
            *("--log-db", str(log.with_name("captions.db"))),  # the run's caption log, kept
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
            return response.read().decode()
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
    parser.add_argument("--url", help="signaling URL of a running server (default: start one)")
    parser.add_argument("--server-pid", type=int, help="with --url: sample this process")
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
    args.out.mkdir(parents=True, exist_ok=True)
    events_file = args.out / "events.jsonl"
    events_file.unlink(missing_ok=True)

    server = None
    url, pid = args.url, args.server_pid
    if url is None:
        port = free_port()
        server = start_server(
            port,
            args.out / "server.log",
            pin=args.pin,
            threads=args.engine_threads,
            extra=args.server_arg,
        )
        url, pid = f"ws://127.0.0.1:{port}/ws", server.pid
    samples: list[Sample] = []
    metrics: list[str] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample, args=(pid, url, samples, metrics, stop), daemon=True)
    if pid:
        sampler.start()
    try:
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
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        client_cpus = cpus(args.pin, server=False)
        if client_cpus:
            command = ["taskset", "-c", ",".join(map(str, client_cpus)), *command]
        with (args.out / "locust.log").open("w") as log:
            result = subprocess.run(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        (args.out / "metrics.txt").write_text(metrics[0] if metrics else read_metrics(url) or "")
    finally:
        stop.set()
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
    events = read_events(events_file)
    summary = summarize(events, samples, users=args.users, seconds=args.duration)
    summary["locust_exit_code"] = result.returncode
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    plot(events, args.out / "latency.png")
    print(json.dumps(summary, indent=2))
    print(f"\nwrote {args.out}/summary.json, latency.png, locust.html, locust_*.csv")
    return 0 if result.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
