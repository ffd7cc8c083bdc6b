"""Where the embedded engine's time goes, at N real-time streams: the engine and its scheduler
thread alone (no WebRTC), fed 80 ms frames at real-time pace, as the room taps feed it.

Each stream plays a clip in a loop with a gap after it (JFK and 3 s, as the load test does),
each starting at a different point of its loop so that the streams do not speak in step. For each
N it prints the step time, how the engine's time splits over its phases (resampling and speech
gate, policy, features, encode, language detection, generate, align, words), the final-caption
latency (from the end of a caption's audio to its delivery), and the audio dropped.

    python scripts/profile_engine.py                          # 1, 4 and 12 streams, 40 s each
    python scripts/profile_engine.py --streams 12 --seconds 60 --language en
    python scripts/profile_engine.py --streams 4 --language detect   # the room said nothing
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from captioner.assembler import CaptionAssembler  # noqa: E402
from captioner.engine import SAMPLE_RATE, StreamUpdate  # noqa: E402
from captioner.scheduler import CaptionScheduler  # noqa: E402
from captioner.whisper.config import WhisperConfig  # noqa: E402
from captioner.whisper.engine import WhisperEngine  # noqa: E402
from client import load_audio  # noqa: E402

FRAME = round(0.08 * SAMPLE_RATE)
DEFAULT_CLIP = ROOT / "tests" / "data" / "jfk.flac"


@dataclass
class Observed:
    """What the deliver callback saw, from the scheduler's thread."""

    origin: float  # monotonic time of room time 0
    assemblers: dict[str, CaptionAssembler]
    warmup: float
    latencies: dict[str, list[float]] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)
    # First words shown (tentative or committed): how long after the first of them began to be
    # spoken, and in what language.
    first_shown: dict[str, tuple[float, str | None]] = field(default_factory=dict)

    def deliver(self, updates: list[StreamUpdate], closed: list[str]) -> None:
        now = time.monotonic() - self.origin
        for update in updates:
            words = update.committed or update.tentative
            if words and update.stream_id not in self.first_shown:
                self.first_shown[update.stream_id] = (now - words[0].start, update.language)
            for caption in self.assemblers[update.stream_id].feed(update):
                if caption.final and caption.text and caption.end >= self.warmup:
                    self.latencies.setdefault(update.stream_id, []).append(now - caption.end)
                    self.texts.setdefault(update.stream_id, []).append(caption.text)


def run(
    engine: WhisperEngine,
    pcm: np.ndarray,
    streams: int,
    seconds: float,
    language: str | None,
    warmup: float,
) -> dict[str, object]:
    loop = len(pcm) - FRAME  # the last frame repeats the first: a frame may straddle the end
    ids = [f"run{engine.stats.steps}-s{i}" for i in range(streams)]  # new ids each run
    observed = Observed(
        time.monotonic(), {s: CaptionAssembler("p", s, lambda a, b: None) for s in ids}, warmup
    )
    scheduler = CaptionScheduler(engine, observed.deliver)
    for stream_id in ids:
        scheduler.open_stream(stream_id, 0.0)
        scheduler.set_language(stream_id, language)
    engine.stats.phase_seconds.clear()
    scheduler.start()
    phases_at_warmup: dict[str, float] = {}
    steps_at_warmup = 0
    offsets = [round(i * loop / max(1, streams)) // FRAME * FRAME for i in range(streams)]
    observed.origin = time.monotonic()
    frames = int(seconds / 0.08)
    for n in range(frames):
        due = observed.origin + n * 0.08
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if n == int(warmup / 0.08):
            phases_at_warmup = dict(engine.stats.phase_seconds)
            steps_at_warmup = scheduler.stats().steps
        for stream_id, offset in zip(ids, offsets, strict=True):
            at = (offset + n * FRAME) % loop
            scheduler.push(stream_id, n * 0.08, pcm[at : at + FRAME])
    stats = scheduler.stats()
    for stream_id in ids:
        scheduler.close_stream(stream_id)
    scheduler.stop()
    spent = {k: v - phases_at_warmup.get(k, 0.0) for k, v in engine.stats.phase_seconds.items()}
    total = sum(spent.values()) or 1.0
    steps = max(1, stats.steps - steps_at_warmup)
    latencies = [v for values in observed.latencies.values() for v in values]
    per_stream_p95 = [float(np.percentile(v, 95)) for v in observed.latencies.values() if v]
    step = np.array(stats.step_seconds or [0.0])
    return {
        "streams": streams,
        "steps": steps,
        "step_p50": round(float(np.percentile(step, 50)), 3),
        "step_p95": round(float(np.percentile(step, 95)), 3),
        "busy": round(total / (seconds - warmup), 2),  # engine seconds per second
        "phase_share": {k: round(100 * v / total, 1) for k, v in sorted(spent.items())},
        "phase_ms_per_step": {k: round(1000 * v / steps, 1) for k, v in sorted(spent.items())},
        "final_p50": round(float(np.percentile(latencies, 50)), 2) if latencies else None,
        "final_p95": round(float(np.percentile(latencies, 95)), 2) if latencies else None,
        "worst_stream_p95": round(max(per_stream_p95), 2) if per_stream_p95 else None,
        "finals": len(latencies),
        "dropped_seconds": round(sum(stats.dropped_seconds.values()), 1),
        "first_shown": [(round(t, 2), lang) for t, lang in observed.first_shown.values()],
        "sample_text": " ".join(observed.texts.get(ids[0], [])[:4]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", default="1,4,12", help="comma-separated stream counts")
    parser.add_argument("--seconds", type=float, default=40.0, help="per stream count")
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds not counted")
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--gap", type=float, default=3.0, help="silence after each play")
    parser.add_argument("--language", default="en", help="a code, or 'detect'")
    parser.add_argument("--threads", type=int, help="engine threads (default: half the CPUs)")
    parser.add_argument("--budget", type=float, help="seconds of windows a step decodes at most")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    speech = load_audio(args.clip, SAMPLE_RATE)
    pcm = np.concatenate([speech, np.zeros(round(args.gap * SAMPLE_RATE), np.float32)])
    pcm = np.concatenate([pcm, pcm[:FRAME]])
    budget = {"step_budget": args.budget} if args.budget else {}
    engine = WhisperEngine(WhisperConfig(cpu_threads=args.threads, **budget))
    language = None if args.language == "detect" else args.language
    results = []
    for n in (int(x) for x in args.streams.split(",")):
        result = run(engine, pcm, n, args.seconds, language, args.warmup)
        results.append(result)
        print(json.dumps(result), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
