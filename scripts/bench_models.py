"""What a decode costs on each embedded model: one stream's buffer of N seconds of real speech,
encoded, decoded greedily and aligned as the engine does it, median of --runs, and base's cost as
a multiple of tiny.en's measured in the same run (the ratio is what holds on a busy machine).

    python scripts/bench_models.py --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from captioner.whisper.config import WhisperConfig  # noqa: E402
from captioner.whisper.engine import WhisperEngine  # noqa: E402
from captioner.whisper.stream import DecodeRequest  # noqa: E402
from client import load_audio  # noqa: E402

JFK = ROOT / "tests" / "data" / "jfk.flac"


def decode_seconds(engine: WhisperEngine, seconds: float) -> float:
    audio = load_audio(JFK, 16_000)[: round(seconds * 16_000)]
    started = time.perf_counter()
    engine.decode([DecodeRequest(audio, 0.0, "", False)], "en")
    return time.perf_counter() - started


def medians(engines: dict[str, WhisperEngine], seconds: float, runs: int) -> dict[str, float]:
    """Runs alternate between the models, so that a busy machine slows both alike; the first
    of each warms the model up."""
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(runs + 1):
        for name, engine in engines.items():
            times[name].append(decode_seconds(engine, seconds))
    return {name: statistics.median(t[1:]) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", default="3,6,10")
    args = parser.parse_args()
    engines = {
        name: WhisperEngine(WhisperConfig(model=name, english_model=None))
        for name in ("tiny.en", "base")
    }
    print("window | tiny.en s | base s | base / tiny.en")
    for seconds in (float(s) for s in args.seconds.split(",")):
        measured = medians(engines, seconds, args.runs)
        tiny, base = measured["tiny.en"], measured["base"]
        print(f"{seconds:.0f} s | {tiny:.3f} | {base:.3f} | {base / tiny:.2f}", flush=True)


if __name__ == "__main__":
    main()
