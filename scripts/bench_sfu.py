"""Per-node forwarding capacity: one room at a time of 2, 16, 50 and 150 participants, in one run.

Starts `livecaptions` on CPU 0 (the load clients run on CPU 1 when there are two). For each room
size, S speakers (real aiortc participants sending a recording in a loop, audio level extension
and all) and size - S lightweight listeners (`client.listener`: the real protocol, packets
counted, never decoded) join, the listeners `--join-concurrency` at a time (the join storm); once
every listener hears every speaker, it measures for `--seconds`:

- forwarded packets per second and per server CPU-second (the server process's user + system
  time from /proc), the issue's goal being 20,000 per core;
- forwarding delay p50/p95 (packet at the source's tap to its sender taking it: the server's
  livecaptions_forwarding_delay_seconds histogram, so the figure is a bucket's upper bound);
- with --video, each room twice, audio only and then with every speaker also publishing a
  synthetic VP8 camera (`client.camera`, 160x120 at 30 fps): forwarded packets (audio + video)
  per server CPU-second in both, their ratio, and the video forwarding delay p50/p95 (a frame's
  first packet at the tap to the sender taking the frame, counted once per packet:
  livecaptions_video_forwarding_delay_seconds). The listeners count video packets too, never
  decoding them;
- delivery at the listeners (packets received / expected from the sequence numbers), and the
  packets the server dropped from full subscriber queues (before a sequence number is given);
- the join storm: time to join everyone, the server's CPU-seconds over it, the renegotiation
  offers (count, bytes) it caused, and the presence frames (participant-joined, or `participants`
  batches for clients that ask, the default; `--plain-presence`: one frame per join, as
  PROTOCOL.md alone has it) and their bytes, received by everyone in the room, per join;
- server memory per participant (RSS with the room full minus before it, over its size);
- with --with-captions (Whisper on the server), final-caption latency p50/p95 at the listeners.

Without --with-captions the server's captioner is an unreachable caption server, so that its CPU
is the forwarding (and the one Opus decode per speaker for the caption tap), not the model.

    .venv/bin/python scripts/bench_sfu.py                       # rooms of 2, 16, 50, 150
    .venv/bin/python scripts/bench_sfu.py --sizes 150 --speakers 3 --seconds 20
    .venv/bin/python scripts/bench_sfu.py --with-captions --sizes 16,50,100,150
    .venv/bin/python scripts/bench_sfu.py --video --sizes 2,16 --seconds 10   # ~2 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from client import CaptionClient, WavTrack, load_audio  # noqa: E402
from client.camera import SyntheticCamera  # noqa: E402
from client.listener import Listener  # noqa: E402
from sfu.media.counters import DELAY_BUCKETS  # noqa: E402

DROPPED = 'livecaptions_forwarded_packets_dropped_total{room="*"}'
SPEECH = Path("/work/shared/speech/jfk.flac")
FALLBACK_SPEECH = ROOT / "tests" / "data" / "jfk.flac"


VIDEO_FORWARDED = "livecaptions_forwarded_video_packets_total"


@dataclass
class RoomResult:
    size: int
    speakers: int
    video: bool  # the speakers also publish a camera
    joined: int
    join_storm_seconds: float
    join_storm_cpu_seconds: float
    presence_frames_per_join: float  # received by everyone in the room, during the storm
    presence_kib_per_join: float
    offers_per_listener: float
    offer_kib_per_listener: float
    forwarded_per_second: float  # audio + video
    video_forwarded_per_second: float
    server_cpu: float  # CPU-seconds per second
    forwarded_per_cpu_second: float | None
    delay_p50_ms: float | None
    delay_p95_ms: float | None
    video_delay_p50_ms: float | None
    video_delay_p95_ms: float | None
    delivered_percent: float | None
    server_dropped: int  # packets dropped from full subscriber queues (not seen in sequences)
    worst_listener_percent: float | None
    rss_mib_per_participant: float
    caption_p50: float | None
    caption_p95: float | None


def start_server(
    args: argparse.Namespace, cpus: list[int] | None
) -> tuple[subprocess.Popen[str], int]:
    command = [
        *(sys.executable, "-m", "sfu", "--port", "0", "--log-level", "WARNING", "--no-log"),
        *("--max-participants", str(max(args.sizes) + 10), "--cpu-threads", "1"),
        *("--forward-speakers", str(args.forward_speakers)),
    ]
    if not args.with_captions:
        command += ["--captioner", "ws://127.0.0.1:9/api/asr-streaming"]  # nothing listens
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if cpus:
        psutil.Process(process.pid).cpu_affinity(cpus)
    assert process.stdout is not None
    for line in process.stdout:
        if match := re.search(r"ready on http://127\.0\.0\.1:(\d+)", line):
            return process, int(match.group(1))
    raise SystemExit("bench_sfu: the server exited before it was ready")


def metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text: str = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("livecaptions_") and " " in line:
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def video_forwarded(values: dict[str, float]) -> float:
    """Video packets forwarded (the series carries a room label: summed)."""
    return sum(v for k, v in values.items() if k.startswith(VIDEO_FORWARDED + "{"))


def delay_quantiles(
    before: dict[str, float],
    after: dict[str, float],
    histogram: str = "livecaptions_forwarding_delay_seconds",
) -> tuple[float, float] | None:
    """p50 and p95 (ms) of the forwarding delay in the window: the upper bound of the bucket."""
    bounds = [*(repr(b) for b in DELAY_BUCKETS), "+Inf"]
    name = f"{histogram}_bucket"
    cumulative = [
        after.get(f'{name}{{le="{b}"}}', 0.0) - before.get(f'{name}{{le="{b}"}}', 0.0)
        for b in bounds
    ]
    total = cumulative[-1]
    if total <= 0:
        return None

    def quantile(q: float) -> float:
        for bound, count in zip((*DELAY_BUCKETS, float("inf")), cumulative, strict=True):
            if count >= q * total:
                return bound * 1000
        return float("inf")

    return quantile(0.5), quantile(0.95)


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def join_all(listeners: list[Listener], concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one(listener: Listener) -> None:
        async with gate:
            await listener.join(timeout=60)

    started = time.monotonic()
    await asyncio.gather(*(one(listener) for listener in listeners))
    return time.monotonic() - started


async def room(
    args: argparse.Namespace, port: int, pid: int, size: int, pcm: object, video: bool
) -> RoomResult:
    url = f"ws://127.0.0.1:{port}/ws"
    name = f"bench-{size}{'-video' if video else ''}"
    rss_before = psutil.Process(pid).memory_info().rss
    batch = not args.plain_presence
    speakers = [
        CaptionClient(
            url,
            room=name,
            name=f"speaker-{i}",
            audio=WavTrack(pcm, loop=True),  # type: ignore[arg-type]
            camera=SyntheticCamera() if video else None,
            batch_presence=batch,
        )
        for i in range(args.speakers)
    ]
    listeners = [
        Listener(url, room=name, name=f"listener-{i}", batch_presence=batch)
        for i in range(size - args.speakers)
    ]
    try:
        for speaker in speakers:
            await speaker.join(timeout=30)
        presence_before = sum(s.presence_frames for s in speakers)
        presence_bytes_before = sum(s.presence_bytes for s in speakers)
        storm_cpu = cpu_seconds(pid)
        storm = await join_all(listeners, args.join_concurrency)
        storm_cpu = cpu_seconds(pid) - storm_cpu
        ids = [s.joined.participant for s in speakers if s.joined is not None]
        for listener in listeners:

            def hears_all(li: Listener = listener) -> bool:
                audio = li.packets_from
                seen = li.video_packets_from if video else audio
                return all(audio.get(i) and seen.get(i) for i in ids)

            try:
                await listener.wait_packets(hears_all, 60)
            except TimeoutError:  # past capacity: measured all the same, delivery says how far
                print(f"room of {size}: {listener.name} did not hear every speaker in 60 s")
                break
        await asyncio.sleep(2.0)  # settle
        everyone = [*speakers, *listeners]
        presence = sum(c.presence_frames for c in everyone) - presence_before
        presence_bytes = sum(c.presence_bytes for c in everyone) - presence_bytes_before
        offers = sum(li.offers for li in listeners)
        offer_bytes = sum(li.offer_bytes for li in listeners)
        before, cpu0, t0 = metrics(port), cpu_seconds(pid), time.monotonic()
        delivery0 = [li.delivery() for li in listeners]
        captions0 = [len(li.captions) for li in listeners]
        await asyncio.sleep(args.seconds)
        after, cpu1, t1 = metrics(port), cpu_seconds(pid), time.monotonic()
        delivery1 = [li.delivery() for li in listeners]
        rss_full = psutil.Process(pid).memory_info().rss
        elapsed = t1 - t0
        video_packets = video_forwarded(after) - video_forwarded(before)
        forwarded = (
            after["livecaptions_forwarded_packets_total"]
            - before["livecaptions_forwarded_packets_total"]
            + video_packets
        )
        cpu = (cpu1 - cpu0) / elapsed
        received = expected = 0
        worst: float | None = None
        for first, last in zip(delivery0, delivery1, strict=True):
            for source, now in last.items():
                was = first.get(source)
                got = now.received - (was.received if was else 0)
                wanted = now.expected - (was.expected if was else 0)
                received, expected = received + got, expected + wanted
                if wanted:
                    worst = min(worst if worst is not None else 1.0, got / wanted)
        latencies = [
            li.latency(c)
            for li, seen in zip(listeners, captions0, strict=True)
            for c in li.captions[seen:]
            if c.caption.final and c.caption.text
        ]
        quantiles = delay_quantiles(before, after)
        video_quantiles = delay_quantiles(
            before, after, "livecaptions_video_forwarding_delay_seconds"
        )
        return RoomResult(
            size=size,
            speakers=args.speakers,
            video=video,
            joined=sum(1 for li in listeners if li.joined is not None) + len(speakers),
            join_storm_seconds=round(storm, 2),
            join_storm_cpu_seconds=round(storm_cpu, 2),
            presence_frames_per_join=round(presence / max(1, len(listeners)), 1),
            presence_kib_per_join=round(presence_bytes / 1024 / max(1, len(listeners)), 2),
            offers_per_listener=round(offers / max(1, len(listeners)), 2),
            offer_kib_per_listener=round(offer_bytes / 1024 / max(1, len(listeners)), 2),
            forwarded_per_second=round(forwarded / elapsed),
            video_forwarded_per_second=round(video_packets / elapsed),
            server_cpu=round(cpu, 3),
            forwarded_per_cpu_second=round(forwarded / (cpu1 - cpu0)) if cpu1 > cpu0 else None,
            delay_p50_ms=quantiles[0] if quantiles else None,
            delay_p95_ms=quantiles[1] if quantiles else None,
            video_delay_p50_ms=video_quantiles[0] if video_quantiles else None,
            video_delay_p95_ms=video_quantiles[1] if video_quantiles else None,
            delivered_percent=round(100 * received / expected, 2) if expected else None,
            server_dropped=round(after.get(DROPPED, 0.0) - before.get(DROPPED, 0.0)),
            worst_listener_percent=round(100 * worst, 2) if worst is not None else None,
            rss_mib_per_participant=round((rss_full - rss_before) / 2**20 / size, 2),
            caption_p50=round(statistics.median(latencies), 2) if latencies else None,
            caption_p95=round(sorted(latencies)[int(0.95 * (len(latencies) - 1))], 2)
            if latencies
            else None,
        )
    finally:
        await asyncio.gather(*(c.leave() for c in [*listeners, *speakers]), return_exceptions=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if metrics(port).get("livecaptions_participants", 0.0) == 0:
                break
            await asyncio.sleep(0.2)


async def bench(args: argparse.Namespace, port: int, pid: int) -> list[RoomResult]:
    pcm = load_audio(args.audio)
    results = []
    for size in args.sizes:
        for video in (False, True) if args.video else (False,):
            result = await room(args, port, pid, size, pcm, video)
            print(json.dumps(asdict(result)), flush=True)
            results.append(result)
    return results


def video_ratios(results: list[RoomResult]) -> list[str]:
    """Per room size measured both ways: forwarded per CPU-second with video over audio only."""
    lines = []
    for audio in results:
        video = next((r for r in results if r.video and r.size == audio.size), None)
        if audio.video or video is None:
            continue
        if audio.forwarded_per_cpu_second and video.forwarded_per_cpu_second:
            ratio = video.forwarded_per_cpu_second / audio.forwarded_per_cpu_second
            lines.append(
                f"room of {audio.size}: forwarded per CPU-s, audio+video / audio only = "
                f"{video.forwarded_per_cpu_second} / {audio.forwarded_per_cpu_second} = "
                f"{ratio:.2f}"
            )
    return lines


def table(results: list[RoomResult]) -> str:
    rows = [
        "| room | speakers | media | forwarded/s (video) | server CPU | forwarded per CPU-s | "
        "delay p50/p95 ms | video delay p50/p95 ms | delivered % (worst) | dropped | "
        "join storm s (CPU s) | presence frames/join (KiB) | offers/listener (KiB) | "
        "RSS MiB/participant | caption p50/p95 s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rows.append(
            f"| {r.size} | {r.speakers} | {'audio+video' if r.video else 'audio'} | "
            f"{r.forwarded_per_second} ({r.video_forwarded_per_second}) | {r.server_cpu} | "
            f"{r.forwarded_per_cpu_second} | {r.delay_p50_ms}/{r.delay_p95_ms} | "
            f"{r.video_delay_p50_ms}/{r.video_delay_p95_ms} | "
            f"{r.delivered_percent} ({r.worst_listener_percent}) | {r.server_dropped} | "
            f"{r.join_storm_seconds} ({r.join_storm_cpu_seconds}) | "
            f"{r.presence_frames_per_join} ({r.presence_kib_per_join}) | "
            f"{r.offers_per_listener} ({r.offer_kib_per_listener}) | "
            f"{r.rss_mib_per_participant} | {r.caption_p50}/{r.caption_p95} |"
        )
    return "\n".join([*rows, *video_ratios(results)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,16,50,150", help="room sizes, comma-separated")
    parser.add_argument("--speakers", type=int, default=1, help="1 to 3")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured per room")
    parser.add_argument(
        "--audio", type=Path, default=SPEECH if SPEECH.exists() else FALLBACK_SPEECH
    )
    parser.add_argument("--forward-speakers", type=int, default=3, help="the server's N (0: all)")
    parser.add_argument("--join-concurrency", type=int, default=8)
    parser.add_argument("--with-captions", action="store_true", help="Whisper on the server")
    parser.add_argument(
        "--plain-presence",
        action="store_true",
        help="clients take joins one frame each (PROTOCOL.md), not in `participants` batches",
    )
    parser.add_argument(
        "--video",
        action="store_true",
        help="each room also with the speakers publishing a camera, and the ratio",
    )
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    if not 1 <= args.speakers <= 3 or min(args.sizes) <= args.speakers:
        parser.error("--speakers must be 1 to 3, and fewer than every room size")
    if not args.audio.exists():
        parser.error(f"--audio {args.audio} does not exist")
    available = sorted(psutil.Process().cpu_affinity() or [])
    server_cpus = available[:1] if len(available) >= 2 else None
    server, port = start_server(args, server_cpus)
    if server_cpus:
        os.sched_setaffinity(0, available[1:])
    try:
        results = asyncio.run(bench(args, port, server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
