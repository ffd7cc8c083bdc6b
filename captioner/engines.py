"""The engines this package offers, built by name: the one place that imports an engine class, so
that the SFU and the caption server choose an engine without importing any (each loads its heavy
libraries, CTranslate2 or torch and moshi, only when built)."""

from __future__ import annotations

from captioner.engine import Engine
from captioner.kyutai.config import KyutaiConfig
from captioner.whisper.config import WhisperConfig

ENGINES = ("whisper", "kyutai")


def build_engine(name: str, *, whisper: WhisperConfig, kyutai: KyutaiConfig) -> Engine:
    """The engine called `name`, configured by its own part of the configuration."""
    if name == "whisper":
        from captioner.whisper.engine import WhisperEngine

        return WhisperEngine(whisper)
    if name == "kyutai":
        from captioner.kyutai.engine import KyutaiEngine

        return KyutaiEngine(kyutai)
    raise ValueError(f"unknown engine {name!r}; available: {', '.join(ENGINES)}")
