#!/usr/bin/env python
"""Throughput of the Kyutai engine: N concurrent streams, one 80 ms frame each per step.

    python scripts/bench_captioner.py                          # stt-1b size, random weights, CPU
    python scripts/bench_captioner.py --device cuda --streams 64,128,256,512
    python scripts/bench_captioner.py --size tiny --pace realtime
    python scripts/bench_captioner.py --checkpoint DIR         # a real (or tiny) checkpoint
    python scripts/bench_captioner.py --protocol --help        # a caption server over the
                                                               # protocol: bench_protocol.py

The model is built at the published size from random weights (speed does not depend on the
weight values; nothing is downloaded), bf16 on cuda and fp32 on a CPU, and driven through the
engine itself (`KyutaiEngine.step`: slots, Mimi, the LM step, word assembly). For each N it
prints the step time p50/p99, the real-time factor (step p50 / 80 ms) and whether N streams stay
real time (step p99 < 80 ms); then the largest such N. `--pace flat` steps back to back;
`--pace realtime` waits for each frame's due time as live audio would, and reports how far
behind the last step finished.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from captioner.engine import FRAME_SECONDS, SAMPLE_RATE, AudioChunk  # noqa: E402
from captioner.kyutai.checkpoint import inspect, lm_kwargs, load  # noqa: E402
from captioner.kyutai.config import KyutaiConfig  # noqa: E402
from captioner.kyutai.engine import FRAME_SAMPLES, KyutaiBatch, KyutaiEngine  # noqa: E402
from captioner.kyutai.presets import LM_PRESETS, TINY_MIMI  # noqa: E402
from client.audio import load_audio  # noqa: E402


def build(args: argparse.Namespace, dtype: object) -> tuple[object, object, int, str]:
    """Mimi, LM, the text delay in steps, and a label."""
    if args.checkpoint:
        files = inspect(args.checkpoint)
        loaded = load(files, args.device, dtype)  # type: ignore[arg-type]
        return loaded.mimi, loaded.lm, files.stt.delay_steps, str(args.checkpoint)
    from moshi.models import loaders

    preset = LM_PRESETS[args.size]
    lm = loaders.get_moshi_lm(
        None,
        lm_kwargs=lm_kwargs(preset),
        device=args.device,
        dtype=dtype,  # type: ignore[arg-type]
    )
    mimi_config = TINY_MIMI if args.size == "tiny" else None  # None: moshi's real Mimi
    mimi = loaders.get_mimi(None, mimi_config, device=args.device, num_codebooks=preset["n_q"])
    delay = round(preset["stt_config"]["audio_delay_seconds"] * 12.5)
    return mimi, lm, delay, f"{args.size} (random weights)"


def measure(
    engine: KyutaiEngine, streams: int, steps: int, warmup: int, pace: str, audio: np.ndarray
) -> dict[str, float]:
    ids = [f"s{i}" for i in range(streams)]
    for stream_id in ids:
        engine.open_stream(stream_id, 0.0)
    # Each stream reads the recording from its own offset, so the batch is not N copies.
    offsets = [(i * 7919 * FRAME_SAMPLES) % (len(audio) - FRAME_SAMPLES) for i in range(streams)]
    times: list[float] = []
    start = time.perf_counter()
    behind = 0.0
    for step in range(warmup + steps):
        chunks = []
        for i, stream_id in enumerate(ids):
            at = (offsets[i] + step * FRAME_SAMPLES) % (len(audio) - FRAME_SAMPLES)
            frame = audio[at : at + FRAME_SAMPLES]
            chunks.append(AudioChunk(stream_id, step * FRAME_SECONDS, frame))
        if pace == "realtime":
            due = start + (step + 1) * FRAME_SECONDS  # the frame is complete at its end
            time.sleep(max(0.0, due - time.perf_counter()))
        began = time.perf_counter()
        engine.step(chunks)
        done = time.perf_counter()
        if step >= warmup:
            times.append(done - began)
            if pace == "realtime":
                behind = done - (start + (step + 1) * FRAME_SECONDS)
    for stream_id in ids:
        engine.close_stream(stream_id)
    p50 = statistics.median(times)
    p99 = float(np.quantile(times, 0.99))
    result = {
        "streams": streams,
        "step_p50_ms": round(p50 * 1000, 2),
        "step_p99_ms": round(p99 * 1000, 2),
        "rtf": round(p50 / FRAME_SECONDS, 3),
        "realtime": p99 < FRAME_SECONDS,
    }
    if pace == "realtime":
        result["behind_at_end_ms"] = round(behind * 1000, 1)
    return result


def main() -> int:
    if "--protocol" in sys.argv[1:]:
        from bench_protocol import main as protocol_main  # scripts/ is sys.path[0]

        return protocol_main(sys.argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(LM_PRESETS), default="stt-1b")
    parser.add_argument("--checkpoint", help="load this checkpoint instead of random weights")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--streams", default=None, help="comma-separated N (default by device)")
    parser.add_argument("--steps", type=int, default=30, help="measured steps per N")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--pace", choices=["flat", "realtime"], default="flat")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    on_cuda = args.device.startswith("cuda")
    dtype = torch.bfloat16 if on_cuda else torch.float32
    default = "1,8,32,64,128,256,512" if on_cuda else "1,2,4,8"
    counts = [int(n) for n in (args.streams or default).split(",")]
    audio = load_audio(ROOT / "tests" / "data" / "jfk.flac", SAMPLE_RATE)

    started = time.perf_counter()
    mimi, lm, delay, label = build(args, dtype)
    params = sum(p.numel() for p in lm.parameters())  # type: ignore[attr-defined]
    print(
        f"model: {label}, LM {params / 1e9:.2f} B parameters, {dtype}, {args.device}, "
        f"built in {time.perf_counter() - started:.1f} s; pace {args.pace}, "
        f"{args.steps} steps per N after {args.warmup} warm-up",
        flush=True,
    )
    print(f"{'N':>5} {'step p50 ms':>12} {'step p99 ms':>12} {'RTF':>7}  real time", flush=True)
    results = []
    for n in counts:
        batch = KyutaiBatch(mimi, lm, n, device=args.device, compile=args.compile)
        engine = KyutaiEngine(
            KyutaiConfig(device=args.device, slots=n),
            batch=batch,
            piece=lambda token: f"\u2581w{token}",
            delay_steps=delay,
        )
        result = measure(engine, n, args.steps, args.warmup, args.pace, audio)
        batch.close()
        del engine, batch
        if on_cuda:
            torch.cuda.empty_cache()
        results.append(result)
        extra = f"  ({result['behind_at_end_ms']} ms behind)" if args.pace == "realtime" else ""
        print(
            f"{n:>5} {result['step_p50_ms']:>12} {result['step_p99_ms']:>12} "
            f"{result['rtf']:>7}  {'yes' if result['realtime'] else 'no'}{extra}",
            flush=True,
        )
    fitting = [r["streams"] for r in results if r["realtime"]]
    best = max(fitting) if fitting else 0
    print(f"largest real-time N (step p99 < 80 ms) among those tried: {best}")
    if args.json:
        args.json.write_text(
            json.dumps({"model": label, "device": args.device, "results": results}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
