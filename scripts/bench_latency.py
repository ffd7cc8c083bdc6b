"""Caption latency and accuracy through the real path: a WAV played into a room by a real aiortc
client at real-time pace, captions received by a second client on their data channel.

Latency is PROTOCOL.md's: received_unix - (clock_origin + end), for every caption update (partial
and final) and for finals alone. WER is computed on the finals against the reference text, and on
the same model run offline over the whole file (greedy, as the stream decodes), for comparison.

    python scripts/bench_latency.py                      # ../shared/speech + French espeak-ng
    python scripts/bench_latency.py --model tiny.en --no-french
    python scripts/bench_latency.py --wav a.wav --text "reference words" --runs 3
    python scripts/bench_latency.py --url ws://127.0.0.1:8080/ws   # a server already running
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from captioner.whisper.config import WhisperConfig  # noqa: E402
from client import CaptionClient, WavTrack, load_audio  # noqa: E402
from client.speech import word_error_rate  # noqa: E402

SHARED = ROOT.parent / "shared" / "speech"
CLIPS = {
    "beckett.wav": "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better.",
    "jfk.flac": "And so my fellow Americans, ask not what your country can do for you, ask what "
    "you can do for your country.",
    "two_cities.wav": "It was the best of times, it was the worst of times, it was the age of "
    "wisdom, it was the age of foolishness, it was the epoch of belief, it was the epoch of "
    "incredulity, it was the season of Light, it was the season of Darkness, it was the spring "
    "of hope, it was the winter of despair, we had everything before us, we had nothing before "
    "us, we were all going direct to Heaven, we were all going direct the other way. In short, "
    "the period was so far like the present period, that some of its noisiest authorities "
    "insisted on its being received, for good or for evil, in the superlative degree of "
    "comparison only.",
}


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def run_once(url: str, pcm: np.ndarray, room: str, language: str | None) -> dict:
    track = WavTrack(pcm, play_offset=0.5)
    speaker = CaptionClient(url, room=room, name="Speaker", audio=track, language=language)
    listener = CaptionClient(url, room=room, name="Listener", language=language)
    await speaker.join()
    await listener.join()
    try:
        await asyncio.wait_for(track.finished.wait(), track.duration + 30)
        assert listener.joined is not None and track.started_at is not None
        speech_end = track.started_at + track.duration - listener.joined.clock_origin

        def settled() -> bool:
            finals = [c for c in listener.finals() if c.text]
            done = {r.caption.segment for r in listener.captions if r.caption.final}
            pending = any(r.caption.segment not in done for r in listener.captions)
            return bool(finals) and finals[-1].end >= speech_end - 2.5 and not pending

        # The last words come once the engine has heard the pause after them (0.55 s of the
        # silence the track sends now) and decoded once more: until then they may not even be
        # tentative, and `settled` would hold without them.
        await asyncio.sleep(1.5)
        with contextlib.suppress(TimeoutError):
            await listener.wait_for(settled, 20)
    finally:
        await speaker.leave()
        await listener.leave()
    return {
        "all": [listener.latency(r) for r in listener.captions],
        "final": [listener.latency(r) for r in listener.captions if r.caption.final],
        "text": listener.final_text(),
    }


def offline_text(pcm48: np.ndarray, model_name: str, language: str) -> str:
    from faster_whisper import WhisperModel

    from captioner.whisper.engine import resolve_model

    model_dir = resolve_model(model_name, None)
    model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=2)
    audio = to_16k(pcm48)
    segments, _ = model.transcribe(
        audio,
        language=language,
        beam_size=1,
        temperature=0.0,
        condition_on_previous_text=False,
        vad_filter=False,
    )
    return " ".join(s.text.strip() for s in segments)


def to_16k(pcm48: np.ndarray) -> np.ndarray:
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=16_000)
    frame = av.AudioFrame.from_ndarray(
        pcm48[None, :].astype(np.float32), format="flt", layout="mono"
    )
    frame.sample_rate = 48_000
    return np.concatenate(
        [f.to_ndarray()[0] for f in [*resampler.resample(frame), *resampler.resample(None)]]
    )


def french_clips() -> list[tuple[str, np.ndarray, str, str]]:
    """espeak-ng's French voice reading the French sentences of bench_streaming.py."""
    from bench_streaming import FRENCH

    from client.speech import synthesize

    return [
        (name, synthesize(text, voice="fr", words_per_minute=120), text, "fr")
        for name, text in FRENCH.items()
    ]


async def bench(args: argparse.Namespace) -> list[dict]:
    server = None
    url = args.url
    whisper = WhisperConfig(model=args.model)
    if url is None:
        from sfu.config import ServerConfig
        from sfu.server import CaptionServer

        server = CaptionServer(ServerConfig(port=0, whisper=whisper))
        await server.start()
        url = f"ws://127.0.0.1:{server.port}/ws"
    results = []
    try:
        for name, pcm, reference, language in args.clips:
            runs = [await run_once(url, pcm, f"bench-{i}", language) for i in range(args.runs)]
            latencies = [x for r in runs for x in r["all"]]
            finals = [x for r in runs for x in r["final"]]
            # Offline on the model that captions this language (English: tiny.en by default).
            english = language == "en" and whisper.english_model
            offline = offline_text(pcm, whisper.english_model if english else args.model, language)
            result = {
                "clip": name,
                "language": language,
                "seconds": round(len(pcm) / 48_000, 1),
                "runs": args.runs,
                "updates": len(latencies),
                "latency_p50": round(percentile(latencies, 50), 3),
                "latency_p95": round(percentile(latencies, 95), 3),
                "final_latency_p50": round(percentile(finals, 50), 3),
                "final_latency_p95": round(percentile(finals, 95), 3),
                "wer_streaming": round(
                    statistics.median(word_error_rate(reference, r["text"]) for r in runs), 3
                ),
                "wer_offline": round(word_error_rate(reference, offline), 3),
                "text": runs[-1]["text"],
                "offline_text": offline,
            }
            results.append(result)
            print(json.dumps(result), flush=True)
    finally:
        if server is not None:
            await server.stop()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="signaling URL of a running server (default: start one)")
    parser.add_argument("--wav", type=Path, help="an audio file (default: ../shared/speech)")
    parser.add_argument("--text", help="its reference text")
    parser.add_argument("--language", default="en", help="of --wav")
    parser.add_argument("--model", default="base", help="the engine's --model")
    parser.add_argument("--no-french", action="store_true", help="skip the espeak-ng French clips")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    if args.wav:
        if not args.text:
            parser.error("--wav needs --text")
        args.clips = [(args.wav.name, load_audio(args.wav), args.text, args.language)]
    else:
        missing = [name for name in CLIPS if not (SHARED / name).exists()]
        if missing:
            parser.error(f"missing {', '.join(missing)}; give --wav and --text")
        args.clips = [(n, load_audio(SHARED / n), text, "en") for n, text in CLIPS.items()]
        if not args.no_french:
            args.clips += french_clips()
    results = asyncio.run(bench(args))
    print()
    print(
        f"{'clip':16} {'p50':>6} {'p95':>6} {'fin p50':>8} {'fin p95':>8} {'WER':>6} {'offline':>8}"
        f"  (model {args.model}, English on {WhisperConfig(model=args.model).english_model})"
    )
    for r in results:
        print(
            f"{r['clip']:16} {r['latency_p50']:6.2f} {r['latency_p95']:6.2f} "
            f"{r['final_latency_p50']:8.2f} {r['final_latency_p95']:8.2f} "
            f"{r['wer_streaming']:6.1%} {r['wer_offline']:8.1%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
