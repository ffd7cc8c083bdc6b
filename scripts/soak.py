"""Soak: N rooms with churn for T minutes against a real server, on loopback; fails on growth.

    .venv/bin/python scripts/soak.py --rooms 3 --minutes 10 --out out/soak

Starts `livecaptions` (embedded Whisper engine, caption log in OUT) in a subprocess on 127.0.0.1.
Each room has a speaker playing a recording in a loop and a listener. Every `--churn` seconds one
listener leaves and another joins, one room in turn closes entirely and reopens (a new session),
and a hostile client joins with an offer aiortc chokes on (`a=mid:zz`) and disconnects. Every
`--every` seconds it samples the server's RSS, threads and open files (psutil), its rooms and
participants (/healthz), and the caption lag the listeners saw. After T minutes everyone leaves,
the server idles `--idle` seconds, and is sampled again.

It fails (exit 1) when, after the warm-up (the first fifth), the last third's median RSS, threads
or open files exceeds the middle third's by more than its tolerance, when rooms are left
open once everyone left, or when RSS after the idle period is not back within `--idle-tolerance`
of the warm baseline. It prints one line per sample and a summary, and writes OUT/soak.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
from aiortc import RTCPeerConnection
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from client import CaptionClient, WavTrack  # noqa: E402
from client.audio import load_audio  # noqa: E402
from protocol import Join, Offer  # noqa: E402
from protocol.signaling import serialize  # noqa: E402
from sfu.media.ice import rtc_configuration  # noqa: E402

READY = re.compile(r"ready on (http://127\.0\.0\.1:\d+)")


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the load started
    rss_mb: float
    threads: int
    fds: int
    rooms: int
    participants: int
    lag_s: float | None  # median caption latency the listeners saw since the last sample
    phase: str


def start_server(out: Path) -> tuple[subprocess.Popen[str], str]:
    command = [
        sys.executable, "-m", "sfu", "--port", "0", "--log-db", str(out / "captions.db"),
        "--log-level", "WARNING",
    ]  # fmt: skip
    with (out / "server.log").open("w") as log:  # the child keeps its own descriptor
        server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
    assert server.stdout is not None
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = server.stdout.readline()
        if match := READY.search(line):
            return server, match.group(1)
        if server.poll() is not None:
            break
    server.kill()
    raise SystemExit(f"the server did not start; see {out / 'server.log'}")


def health(url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{url}/healthz", timeout=10) as reply:
        return json.loads(reply.read())


class Soak:
    def __init__(self, url: str, audio_path: Path, rooms: int) -> None:
        self.url = url
        self.ws = url.replace("http://", "ws://") + "/ws"
        self.audio = load_audio(audio_path)
        self.rooms = [f"soak-{n}" for n in range(rooms)]
        self.speakers: dict[str, CaptionClient] = {}
        self.listeners: dict[str, CaptionClient] = {}
        self.seen: dict[int, int] = {}  # captions of each listener already counted for lag
        self.generation = 0

    async def open_room(self, room: str) -> None:
        self.generation += 1
        speaker = CaptionClient(
            self.ws, room=room, name="Speaker", audio=WavTrack(self.audio, loop=True)
        )
        await speaker.join(timeout=60)
        self.speakers[room] = speaker
        await self.replace_listener(room)

    async def replace_listener(self, room: str) -> None:
        old = self.listeners.pop(room, None)
        if old is not None:
            await old.leave()
        self.generation += 1
        listener = CaptionClient(self.ws, room=room, name=f"Listener-{self.generation}")
        await listener.join(timeout=60)
        self.listeners[room] = listener

    async def close_room(self, room: str) -> None:
        for clients in (self.listeners, self.speakers):
            client = clients.pop(room, None)
            if client is not None:
                await client.leave()

    async def hostile(self) -> None:
        """Join, offer SDP that aiortc fails on half-way, disconnect: the room must not leak."""
        pc = RTCPeerConnection(rtc_configuration())  # no STUN: nothing leaves loopback
        pc.addTransceiver("audio", direction="sendrecv")
        pc.createDataChannel("captions")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp.replace("a=mid:0", "a=mid:zz", 1)
        await pc.close()
        async with connect(self.ws) as ws:
            await ws.send(serialize(Join(f"hostile-{self.generation}", "Mallory")))
            await ws.recv()
            await ws.send(serialize(Offer(sdp)))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 30)

    def lag(self) -> float | None:
        latencies = []
        for listener in self.listeners.values():
            start = self.seen.get(id(listener), 0)
            finals = [r for r in listener.captions[start:] if r.caption.final and r.caption.text]
            latencies += [listener.latency(r) for r in finals]
            self.seen[id(listener)] = len(listener.captions)
        return statistics.median(latencies) if latencies else None

    async def leave_all(self) -> None:
        for room in list(self.rooms):
            await self.close_room(room)


def sample(process: psutil.Process, url: str, soak: Soak | None, t0: float, phase: str) -> Sample:
    state = health(url)
    return Sample(
        t=round(time.monotonic() - t0, 1),
        rss_mb=round(process.memory_info().rss / 2**20, 1),
        threads=process.num_threads(),
        fds=process.num_fds(),
        rooms=int(state["rooms"]),  # type: ignore[call-overload]
        participants=int(state["participants"]),  # type: ignore[call-overload]
        lag_s=None if soak is None else soak.lag(),
        phase=phase,
    )


def show(s: Sample) -> None:
    lag = "-" if s.lag_s is None else f"{s.lag_s:.2f}"
    print(
        f"t={s.t:7.1f}s {s.phase:5} rss={s.rss_mb:7.1f}MB threads={s.threads:3} fds={s.fds:4} "
        f"rooms={s.rooms:2} participants={s.participants:3} lag={lag}s",
        flush=True,
    )


async def load(args: argparse.Namespace, url: str, process: psutil.Process) -> list[Sample]:
    soak = Soak(url, args.audio, args.rooms)
    t0 = time.monotonic()
    samples = [sample(process, url, None, t0, "start")]
    show(samples[0])
    for room in soak.rooms:
        await soak.open_room(room)
    end = t0 + args.minutes * 60
    next_sample, next_churn, turn = t0 + args.every, t0 + args.churn, 0
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_churn:
            next_churn += args.churn
            room = soak.rooms[turn % len(soak.rooms)]
            turn += 1
            await soak.replace_listener(soak.rooms[turn % len(soak.rooms)])
            await soak.close_room(room)
            await soak.open_room(room)
            await soak.hostile()
        if now >= next_sample:
            next_sample += args.every
            samples.append(sample(process, url, soak, t0, "load"))
            show(samples[-1])
        await asyncio.sleep(0.5)
    await soak.leave_all()
    await asyncio.sleep(2)
    samples.append(sample(process, url, None, t0, "left"))
    show(samples[-1])
    idle_end = time.monotonic() + args.idle
    while time.monotonic() < idle_end:
        await asyncio.sleep(min(args.every, max(0.0, idle_end - time.monotonic())))
        samples.append(sample(process, url, None, t0, "idle"))
        show(samples[-1])
    return samples


def verdict(samples: list[Sample], args: argparse.Namespace) -> list[str]:
    """What grew without bound, as sentences; empty when nothing did."""
    loaded = [s for s in samples if s.phase == "load"]
    steady = loaded[len(loaded) // 5 :]
    third = max(1, len(steady) // 3)
    middle, last = steady[third : 2 * third] or steady, steady[-third:]
    problems = []
    for name, tolerance in (("rss_mb", args.rss_tolerance), ("threads", 10), ("fds", 20)):
        # Medians, so that one sample taken mid-burst (an engine step, a GC) is not "growth".
        base = statistics.median(getattr(s, name) for s in middle)
        recent = statistics.median(getattr(s, name) for s in last)
        limit = base * (1 + tolerance) if name == "rss_mb" else base + tolerance
        if recent > limit:
            problems.append(f"{name} grew: middle-third median {base}, last-third {recent}")
    if any(s.rooms for s in samples if s.phase in ("left", "idle")):
        problems.append("rooms stayed open after everyone left")
    warm = statistics.median(s.rss_mb for s in loaded[: max(1, len(loaded) // 5)])
    idle = [s for s in samples if s.phase == "idle"]
    if idle and idle[-1].rss_mb > warm * (1 + args.idle_tolerance):
        problems.append(f"RSS after idle {idle[-1].rss_mb} MB, warm baseline {warm} MB")
    return problems


def summary(samples: list[Sample]) -> dict[str, object]:
    loaded = [s for s in samples if s.phase == "load"]
    pick = {
        "start": samples[0],
        "first-load": loaded[0] if loaded else None,
        "middle": loaded[len(loaded) // 2] if loaded else None,
        "end-of-load": loaded[-1] if loaded else None,
        "after-idle": samples[-1],
    }
    lags = [s.lag_s for s in loaded if s.lag_s is not None]
    return {
        "points": {k: asdict(v) if v else None for k, v in pick.items()},
        "lag_median_s": statistics.median(lags) if lags else None,
        "lag_max_s": max(lags) if lags else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rooms", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--churn", type=float, default=20.0, help="seconds between churn steps")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--idle", type=float, default=60.0, help="idle seconds after the load")
    parser.add_argument("--rss-tolerance", type=float, default=0.15)
    parser.add_argument("--idle-tolerance", type=float, default=0.10)
    parser.add_argument("--audio", type=Path, default=ROOT / "tests" / "data" / "jfk.flac")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "soak")
    args = parser.parse_args(argv)
    if not 1 <= args.rooms <= 20 or not 0 < args.minutes <= 24 * 60:
        parser.error("--rooms must be 1-20 and --minutes at most a day")
    args.out.mkdir(parents=True, exist_ok=True)
    server, url = start_server(args.out)
    try:
        samples = asyncio.run(load(args, url, psutil.Process(server.pid)))
    finally:
        server.terminate()
        server.wait(timeout=60)
    problems = verdict(samples, args)
    report = {"samples": [asdict(s) for s in samples], **summary(samples), "problems": problems}
    (args.out / "soak.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=2))
    for problem in problems:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
