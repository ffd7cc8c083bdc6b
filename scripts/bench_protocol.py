#!/usr/bin/env python
"""A caption server over the protocol: N concurrent streams paced at real time.

    python scripts/bench_captioner.py --protocol                            # Whisper, N = 1,2,4
    python scripts/bench_captioner.py --protocol --engine kyutai --checkpoint DIR --streams 1,4,8
    python scripts/bench_captioner.py --protocol --url ws://gpu1:8090/api/asr-streaming --key K

Starts `livecaptions-captioner` as its own process (unless `--url` names a running server, ours or
Kyutai's moshi-server), then for each N streams the recording (each stream from its own offset)
in 80 ms frames at real-time pace for `--seconds`. It prints, per N: the engine's busy fraction
(step time per second of wall time, from the server's /metrics: < 1 keeps up), the mean step time,
the processing lag (how long after a frame was sent its `Step` came back) p50/p95, whether N
streams are served in real time (lag p95 < 1 s), and the word latency p50/p95 (a word's arrival
minus the time the audio of its end was sent). Then the largest real-time N, and the latency the
network hop adds: the same engine in this process behind the same scheduler, N = `--hop-streams`,
the same audio, word latency remote minus in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from websockets.asyncio.client import connect  # noqa: E402

from asr.client import Admitted, AsrClientSession, FinalWord, Progress  # noqa: E402
from asr.messages import FRAME_SAMPLES, SAMPLE_RATE  # noqa: E402
from captioner.engine import Engine, StreamUpdate  # noqa: E402
from captioner.kyutai.config import KyutaiConfig  # noqa: E402
from captioner.scheduler import CaptionScheduler  # noqa: E402
from captioner.whisper.config import MODELS, WhisperConfig  # noqa: E402
from captionserver.config import CaptionServerConfig  # noqa: E402
from captionserver.server import build_engine  # noqa: E402
from client.audio import load_audio  # noqa: E402

FRAME = FRAME_SAMPLES / SAMPLE_RATE


@dataclass
class Run:
    lags: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


def offsets(audio: np.ndarray, streams: int) -> list[int]:
    return [(i * 7919 * FRAME_SAMPLES) % (len(audio) - FRAME_SAMPLES) for i in range(streams)]


def frame_at(audio: np.ndarray, offset: int, index: int) -> np.ndarray:
    at = (offset + index * FRAME_SAMPLES) % (len(audio) - FRAME_SAMPLES)
    return audio[at : at + FRAME_SAMPLES]


async def remote_stream(url: str, key: str | None, audio: np.ndarray, offset: int,
                        frames: int, began: float, run: Run) -> None:  # fmt: skip
    session = AsrClientSession()
    headers = {"kyutai-api-key": key} if key else {}
    async with connect(url, additional_headers=headers, max_size=None) as ws:
        if not any(isinstance(e, Admitted) for e in session.receive(await ws.recv())):
            raise SystemExit(f"the server refused a stream (all slots taken?): {url}")

        async def read() -> None:
            async for frame in ws:
                now = time.perf_counter()
                assert isinstance(frame, bytes)
                for event in session.receive(frame):
                    if isinstance(event, Progress):
                        run.lags.append(now - (began + event.processed))
                    elif isinstance(event, FinalWord):
                        run.latencies.append(now - (began + event.word.stop_time))

        reader = asyncio.ensure_future(read())
        for index in range(frames):
            await asyncio.sleep(max(0.0, began + (index + 1) * FRAME - time.perf_counter()))
            await ws.send(session.audio(frame_at(audio, offset, index)))
        await asyncio.sleep(2.0)  # the last words
        reader.cancel()


async def metric(url: str, name: str) -> float:
    parts = urlsplit(url.replace("ws", "http", 1))
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    body = (await reader.read()).decode()
    writer.close()
    match = re.search(rf"^{name} (\S+)$", body, re.M)
    return float(match.group(1)) if match else float("nan")


async def remote(url: str, key: str | None, audio: np.ndarray, n: int, seconds: float) -> dict:
    frames = round(seconds / FRAME)
    for _ in range(300):  # the last run's streams free their slots once their last step ran
        if await metric(url, "livecaptions_captioner_streams") == 0:
            break
        await asyncio.sleep(0.1)
    busy0 = await metric(url, "livecaptions_captioner_engine_busy_seconds_total")
    steps0 = await metric(url, "livecaptions_captioner_engine_steps_total")
    run, began = Run(), time.perf_counter() + 0.5
    await asyncio.gather(
        *(remote_stream(url, key, audio, o, frames, began, run) for o in offsets(audio, n))
    )
    busy = await metric(url, "livecaptions_captioner_engine_busy_seconds_total") - busy0
    steps = await metric(url, "livecaptions_captioner_engine_steps_total") - steps0
    return summary(n, run, busy / (frames * FRAME), busy / steps if steps else float("nan"))


def in_process(engine: Engine, config: CaptionServerConfig, audio: np.ndarray, n: int,
               seconds: float) -> dict:  # fmt: skip
    """The same engine and scheduler, no network: the baseline for the hop."""
    run, frames = Run(), round(seconds / FRAME)
    began = time.perf_counter() + 0.5

    def deliver(updates: list[StreamUpdate], closed: list[str]) -> None:
        now = time.perf_counter()
        for update in updates:
            run.latencies += [now - (began + w.end) for w in update.committed]
            run.lags.append(now - (began + update.audio_end))

    scheduler = CaptionScheduler(engine, deliver, config.scheduler)
    scheduler.start()
    ids = [f"s{i}-{began}" for i in range(n)]
    for stream_id in ids:
        scheduler.open_stream(stream_id, 0.0)
    for index in range(frames):
        time.sleep(max(0.0, began + (index + 1) * FRAME - time.perf_counter()))
        for stream_id, offset in zip(ids, offsets(audio, n), strict=True):
            scheduler.push(stream_id, index * FRAME, frame_at(audio, offset, index))
    time.sleep(2.0)
    stats = scheduler.stats()
    for stream_id in ids:
        scheduler.close_stream(stream_id)
    time.sleep(0.5)  # the closes' last step, so that the engine's slots are free again
    scheduler.stop()
    steps = stats.step_seconds
    return summary(n, run, sum(steps) / (frames * FRAME), statistics.mean(steps) if steps else 0)


def summary(n: int, run: Run, busy: float, step: float) -> dict:
    def q(values: list[float], p: float) -> float:
        return round(float(np.quantile(values, p)) * 1000, 1) if values else float("nan")

    return {
        "streams": n,
        "busy": round(busy, 3),
        "step_ms": round(step * 1000, 1),
        "lag_p50_ms": q(run.lags, 0.5),
        "lag_p95_ms": q(run.lags, 0.95),
        "realtime": bool(run.lags) and q(run.lags, 0.95) < 1000,
        "word_p50_ms": q(run.latencies, 0.5),
        "word_p95_ms": q(run.latencies, 0.95),
        "words": len(run.latencies),
    }


def row(label: str, r: dict) -> str:
    return (
        f"{label:>10} {r['streams']:>3} {r['busy']:>6} {r['step_ms']:>8} {r['lag_p50_ms']:>8} "
        f"{r['lag_p95_ms']:>8} {'yes' if r['realtime'] else 'no':>4} {r['word_p50_ms']:>8} "
        f"{r['word_p95_ms']:>8} {r['words']:>6}"
    )


async def start_server(args: argparse.Namespace) -> tuple[str, asyncio.subprocess.Process]:
    extra = ["--checkpoint", args.checkpoint, "--slots", str(args.slots)] if args.checkpoint else []
    if args.engine == "whisper":
        extra += ["--model", args.model]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "captionserver", "--port", "0", "--engine", args.engine,
        "--cpu-threads", str(args.threads), *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 600)
    match = re.search(rb"(ws://\S+)", line)
    if not match:
        raise SystemExit(f"the caption server did not start: {line!r}")
    return match.group(1).decode(), process


async def amain(args: argparse.Namespace) -> int:
    audio = load_audio(ROOT / "tests" / "data" / "jfk.flac", SAMPLE_RATE)
    counts = [int(n) for n in args.streams.split(",")]
    process = None
    url = args.url
    if url is None:
        url, process = await start_server(args)
    print(f"server {url} engine {args.engine}; {args.seconds} s per N, real-time paced", flush=True)
    head = "      mode   N   busy  step ms  lag p50  lag p95   rt  word p50 word p95  words"
    print(head, flush=True)
    results = []
    try:
        for n in counts:
            result = await remote(url, args.key, audio, n, args.seconds)
            results.append(result)
            print(row("remote", result), flush=True)
        fitting = [r["streams"] for r in results if r["realtime"]]
        print(f"largest N served in real time (lag p95 < 1 s) among those tried: "
              f"{max(fitting) if fitting else 0}")  # fmt: skip
        if args.hop_streams and args.url is None:
            # Alternate remote and in-process so that the machine's load hits both alike.
            config = CaptionServerConfig(
                engine=args.engine,
                whisper=WhisperConfig(model=args.model, cpu_threads=args.threads),
                kyutai=KyutaiConfig(
                    checkpoint=args.checkpoint,
                    slots=args.slots,
                    cpu_threads=args.threads,
                    progress=False,
                ),
            )
            engine = build_engine(config)  # loaded once, and warmed up by a first round
            await asyncio.to_thread(in_process, engine, config, audio, args.hop_streams, 2.0)
            remote_words: list[float] = []
            local_words: list[float] = []
            for _ in range(args.hop_rounds):
                r = await remote(url, args.key, audio, args.hop_streams, args.seconds)
                print(row("remote", r), flush=True)
                local = await asyncio.to_thread(
                    in_process, engine, config, audio, args.hop_streams, args.seconds
                )
                print(row("in-proc", local), flush=True)
                remote_words += [r["word_p50_ms"]]
                local_words += [local["word_p50_ms"]]
                remote_words += [r["word_p95_ms"]]
                local_words += [local["word_p95_ms"]]
            p50 = statistics.median(remote_words[0::2]) - statistics.median(local_words[0::2])
            p95 = statistics.median(remote_words[1::2]) - statistics.median(local_words[1::2])
            print(f"hop adds (median over {args.hop_rounds} rounds, N={args.hop_streams}): "
                  f"word latency p50 {p50:+.1f} ms, p95 {p95:+.1f} ms")  # fmt: skip
    finally:
        if process is not None:
            process.terminate()
            await process.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", action="store_true", help="(this mode)")
    parser.add_argument("--url", help="a running caption server (default: start ours)")
    parser.add_argument("--key", help="its API key")
    parser.add_argument("--engine", choices=["whisper", "kyutai"], default="whisper")
    parser.add_argument("--checkpoint", help="kyutai: a checkpoint directory")
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument(
        "--model",
        choices=MODELS,
        default="base",
        help="whisper: the model of every stream (the protocol names no language: base detects it)",
    )
    parser.add_argument("--threads", type=int, default=2, help="engine CPU threads")
    parser.add_argument("--streams", default="1,2,4", help="comma-separated N")
    parser.add_argument("--seconds", type=float, default=10.0, help="audio per stream per N")
    parser.add_argument("--hop-streams", type=int, default=1, help="N for the hop; 0: skip")
    parser.add_argument("--hop-rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.engine == "kyutai" and not args.checkpoint and not args.url:
        parser.error("--engine kyutai needs --checkpoint")
    return asyncio.run(amain(args))


if __name__ == "__main__":
    raise SystemExit(main())
