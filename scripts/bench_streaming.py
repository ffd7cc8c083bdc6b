"""Streaming against offline WER of the embedded engine alone, per clip, English and French.

Each clip goes through `WhisperEngine.step` in chunks, as the scheduler feeds it: `--live` sizes
each chunk to the time the previous step took (what a real-time stream accumulates while the
engine works; 80 ms at least), otherwise every chunk is `--step` seconds. "Offline" is the same
model decoding the whole clip in one window, in the same language. Commit lag is how long after
a word's end (in audio time) the step that committed it finished; final lag is the same for each
final caption (the caption assembler's segments, as a room would get them: how long after the
segment's last word its final went out), which is what bench_latency's "finals" measures with the
network and real-time pacing added.

    python scripts/bench_streaming.py                    # shared clips + French espeak-ng clips
    python scripts/bench_streaming.py --model tiny.en --clips en
    python scripts/bench_streaming.py --live --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from captioner.assembler import CaptionAssembler  # noqa: E402
from captioner.engine import SAMPLE_RATE, AudioChunk  # noqa: E402
from captioner.whisper.config import WhisperConfig  # noqa: E402
from captioner.whisper.engine import WhisperEngine, resolve_model  # noqa: E402
from client import load_audio  # noqa: E402
from client.speech import synthesize, word_error_rate  # noqa: E402

SHARED = ROOT.parent / "shared" / "speech"
sys.path.insert(0, str(ROOT / "scripts"))
from bench_latency import CLIPS  # noqa: E402

# French read by espeak-ng's French voice: sentences with commas (pauses mid-sentence) and
# elisions, accents and a question, as a meeting would have them.
FRENCH = {  # espeak-ng's French is hard for Whisper base: these are sentences it mostly gets
    "fr-reunion": "Bonjour à tous, merci d'être venus. Nous allons commencer la réunion par "
    "le budget.",
    "fr-cafe": "Je voudrais un café, s'il vous plaît.",
    "fr-heure": "La réunion commence à dix heures.",
}


@dataclass(frozen=True)
class Clip:
    name: str
    pcm: np.ndarray  # 24 kHz
    text: str
    language: str


def clips(which: str) -> list[Clip]:
    out = []
    if which in ("all", "en"):
        for name, text in CLIPS.items():
            if (SHARED / name).exists():
                out.append(Clip(name, load_audio(SHARED / name, SAMPLE_RATE), text, "en"))
    if which in ("all", "fr"):
        for name, text in FRENCH.items():
            pcm = synthesize(text, voice="fr", words_per_minute=120)
            out.append(Clip(name, _to_24k(pcm), text, "fr"))
    return out


def _to_24k(pcm48: np.ndarray) -> np.ndarray:
    return pcm48[::2].copy()  # espeak's speech has nothing above 12 kHz


@dataclass
class Run:
    text: str  # the final captions', as the caption log keeps them
    lags: list[float]  # commit lag of every word
    final_lags: list[float]  # lag of every final caption


def stream(engine: WhisperEngine, clip: Clip, step: float, live: bool) -> Run:
    pcm = np.concatenate([np.zeros(SAMPLE_RATE // 2, np.float32), clip.pcm])
    pcm = np.concatenate([pcm, np.zeros(SAMPLE_RATE * 2, np.float32)])
    engine.open_stream("s", 0.0)
    engine.set_language("s", clip.language)
    assembler = CaptionAssembler("bench", "s", lambda start, end: None)
    texts, lags, finals, i, chunk = [], [], [], 0, round(step * SAMPLE_RATE)
    while i < len(pcm):
        piece = pcm[i : i + chunk]
        i += len(piece)
        started = time.perf_counter()
        updates = engine.step([AudioChunk("s", 0.0, piece, end_of_stream=i >= len(pcm))])
        took = time.perf_counter() - started
        now = i / SAMPLE_RATE + (took if live else 0.0)
        for update in updates:
            lags += [now - w.end for w in update.committed]
            for caption in assembler.feed(update):
                if caption.final and caption.text:
                    texts.append(caption.text)
                    finals.append(now - caption.end)
        if live:
            chunk = max(1920, round(took * SAMPLE_RATE / 1920) * 1920)
    texts += [c.text for c in assembler.close() if c.text]
    engine.close_stream("s")
    return Run(" ".join(texts), lags, finals)


def offline(model: WhisperModel, clip: Clip) -> str:
    """The same model over the whole clip, greedy, as faster-whisper transcribes a file, but
    without its temperature fallback: that samples, and the offline text changed between runs."""
    audio = np.interp(  # 24 → 16 kHz
        np.arange(0, len(clip.pcm), 1.5), np.arange(len(clip.pcm)), clip.pcm
    ).astype(np.float32)
    segments, _ = model.transcribe(
        audio,
        language=clip.language,
        beam_size=1,
        temperature=0.0,
        condition_on_previous_text=False,
    )
    return " ".join(s.text.strip() for s in segments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--clips", choices=("all", "en", "fr"), default="all")
    parser.add_argument("--step", type=float, default=0.32)
    parser.add_argument("--live", action="store_true")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", help="clips whose name contains this")
    args = parser.parse_args()
    engine = WhisperEngine(WhisperConfig(model=args.model, english_model=None))  # all on it
    model = WhisperModel(
        str(resolve_model(args.model, None)), device="cpu", compute_type="int8", cpu_threads=2
    )
    print(f"model {args.model}, {'live' if args.live else f'step {args.step} s'}, runs {args.runs}")
    print(
        "clip | lang | WER offline | WER streaming (median) | commit lag p50 / p95 "
        "| final lag p50 / p95"
    )
    for clip in clips(args.clips):
        if args.only and args.only not in clip.name:
            continue
        base = word_error_rate(clip.text, offline(model, clip))
        wers, lags, final_lags, text = [], [], [], ""
        for _ in range(args.runs):
            run = stream(engine, clip, args.step, args.live)
            wers.append(word_error_rate(clip.text, run.text))
            lags += run.lags
            final_lags += run.final_lags
            text = run.text
        print(
            f"{clip.name} | {clip.language} | {100 * base:.1f} % | "
            f"{100 * statistics.median(wers):.1f} % ({', '.join(f'{100 * w:.1f}' for w in wers)})"
            f" | {_percentiles(lags)} | {_percentiles(final_lags)} | {text}",
            flush=True,
        )


def _percentiles(values: list[float]) -> str:
    if not values:
        return "- / -"
    p50, p95 = np.percentile(values, [50, 95])
    return f"{p50:.2f} / {p95:.2f} s"


if __name__ == "__main__":
    main()
