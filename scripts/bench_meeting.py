"""A long meeting: two speakers taking turns with real speech, one listener, for T minutes against
a real server on loopback. It says what grows between the first and the last minutes (final-
caption latency, the server's memory), whether a turn was lost, and how the first caption of each
turn fares against the others (latency, and the speaker it is attributed to).

    python scripts/bench_meeting.py --minutes 10 --out out/meeting
    python scripts/bench_meeting.py --minutes 60 --window 10 --out out/meeting-60   # the hour

The speakers are aiortc clients (client.CaptionClient) whose tracks start together and loop one
schedule: Ada says JFK, Bob Beckett, Ada two_cities, Bob JFK (../shared/speech, or JFK alone from
tests/data), `--gap` seconds apart, so every turn's speaker, start and end are known on the room
clock. Every participant asks for `--language`. Exit status 1 when the last window's final p95 is
more than 10 % above the first's, when the server's memory grew by more than 15 %, or when a
turn got no final caption.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_latency import CLIPS  # noqa: E402
from soak import start_server  # noqa: E402

from client import CaptionClient, WavTrack, load_audio  # noqa: E402
from client.audio import RATE  # noqa: E402
from client.speech import word_error_rate  # noqa: E402

SHARED = ROOT.parent / "shared" / "speech"
SCHEDULE = [
    ("Ada", "jfk.flac"),
    ("Bob", "beckett.wav"),
    ("Ada", "two_cities.wav"),
    ("Bob", "jfk.flac"),
]


@dataclass(frozen=True)
class Turn:
    speaker: str
    start: float  # room clock
    end: float
    text: str


@dataclass(frozen=True)
class Final:
    at: float  # seconds since the meeting started
    latency: float
    start: float
    end: float
    speaker: str | None
    text: str


def schedule(gap: float) -> tuple[dict[str, np.ndarray], list[tuple[str, float, float, str]]]:
    """Each speaker's looped track (48 kHz) and one loop's turns (speaker, start, end, text)."""
    available = [(who, clip) for who, clip in SCHEDULE if (SHARED / clip).exists()]
    if not available:
        available = [("Ada", "jfk.flac"), ("Bob", "jfk.flac")]
    pieces, turns, t = [], [], 0.0
    for who, clip in available:
        path = SHARED / clip if (SHARED / clip).exists() else ROOT / "tests" / "data" / clip
        pcm = load_audio(path)
        pieces.append((who, t, pcm))
        turns.append((who, t, t + len(pcm) / RATE, CLIPS[clip]))
        t += len(pcm) / RATE + gap
    total = round(t * RATE)
    tracks = {who: np.zeros(total, np.float32) for who, _, _ in pieces}
    for who, start, pcm in pieces:
        offset = round(start * RATE)
        tracks[who][offset : offset + len(pcm)] = pcm
    return tracks, turns


async def meet(args: argparse.Namespace, url: str, server: psutil.Process) -> dict[str, object]:
    ws = url.replace("http://", "ws://") + "/ws"
    tracks, loop_turns = schedule(args.gap)
    period = len(next(iter(tracks.values()))) / RATE
    go = asyncio.Event()
    speakers = {
        who: CaptionClient(
            ws, room="meeting", name=who, language=args.language,
            audio=WavTrack(pcm, loop=True, start=go),
        )
        for who, pcm in tracks.items()
    }  # fmt: skip
    listener = CaptionClient(ws, room="meeting", name="Listener", language=args.language)
    for participant in (*speakers.values(), listener):
        await participant.join()
    go.set()
    t0 = time.monotonic()
    memory: list[tuple[float, float]] = []
    while (elapsed := time.monotonic() - t0) < args.minutes * 60:
        memory.append((elapsed, server.memory_info().rss / 2**20))
        await asyncio.sleep(10)
    await asyncio.sleep(args.gap + 4)  # the last turn's finals
    track = next(iter(speakers.values())).audio
    assert isinstance(track, WavTrack) and track.started_at is not None
    assert listener.joined is not None
    origin = track.started_at - listener.joined.clock_origin  # room time of the schedule's 0
    finals = [
        Final(
            r.received_at - (listener.joined.clock_origin + origin),
            listener.latency(r),
            r.caption.start,
            r.caption.end,
            r.caption.speaker.name if r.caption.speaker else None,
            r.caption.text,
        )
        for r in listener.captions
        if r.caption.final and r.caption.text
    ]
    played = int(args.minutes * 60 // period)
    turns = [
        Turn(who, origin + k * period + start, origin + k * period + end, text)
        for k in range(played)
        for who, start, end, text in loop_turns
    ]
    for participant in (*speakers.values(), listener):
        await participant.leave()
    return report(args, turns, finals, memory)


def report(
    args: argparse.Namespace,
    turns: list[Turn],
    finals: list[Final],
    memory: list[tuple[float, float]],
) -> dict[str, object]:
    window = min(args.window * 60, args.minutes * 60 / 3)
    first = [f.latency for f in finals if f.at < window]
    last = [f.latency for f in finals if f.at >= args.minutes * 60 - window]
    openers, others, wrong_speaker, lost, wers = [], [], 0, 0, []
    for turn in turns:
        mine = [f for f in finals if turn.start - 0.5 <= (f.start + f.end) / 2 <= turn.end + 1.0]
        if not mine:
            lost += 1
            wers.append(1.0)
            continue
        wers.append(word_error_rate(turn.text, " ".join(f.text for f in mine)))
        openers.append(mine[0].latency)
        others += [f.latency for f in mine[1:]]
        wrong_speaker += mine[0].speaker != turn.speaker
    rss_first = [m for t, m in memory if t < window]
    rss_last = [m for t, m in memory if t >= args.minutes * 60 - window]
    summary = {
        "minutes": args.minutes,
        "window_minutes": round(window / 60, 1),
        "finals": len(finals),
        "final_p95_first": p95(first),
        "final_p95_last": p95(last),
        "final_p95_ratio": round(p95(last) / p95(first), 2) if first and last else None,
        "first_of_turn_p95": p95(openers),
        "rest_of_turn_p95": p95(others),
        "turns": len(turns),
        "turns_lost": lost,
        "first_caption_under_wrong_name": wrong_speaker,
        "wer_median": round(statistics.median(wers), 3) if wers else None,
        "wer_mean": round(statistics.mean(wers), 3) if wers else None,
        "rss_mb_first": round(statistics.median(rss_first), 1) if rss_first else None,
        "rss_mb_last": round(statistics.median(rss_last), 1) if rss_last else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "meeting.json").write_text(
        json.dumps(
            {"summary": summary, "finals": [asdict(f) for f in finals], "memory": memory}, indent=1
        )
    )
    return summary


def p95(values: list[float]) -> float:
    return round(float(np.percentile(values, 95)), 3) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=10.0, help="minutes compared at each end")
    parser.add_argument("--gap", type=float, default=0.8, help="seconds between two turns")
    parser.add_argument("--language", default="en", help="what every participant asks for")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "meeting")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    process, url = start_server(args.out)
    try:
        summary = asyncio.run(meet(args, url, psutil.Process(process.pid)))
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(json.dumps(summary, indent=2))
    ratio = summary["final_p95_ratio"]
    grew = summary["rss_mb_first"] and summary["rss_mb_last"]
    failed = (
        (isinstance(ratio, float) and ratio > 1.10)
        or (grew and summary["rss_mb_last"] > 1.15 * summary["rss_mb_first"])  # type: ignore[operator]
        or summary["turns_lost"]
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
