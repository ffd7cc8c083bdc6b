"""What the Kyutai engine is told. Light to import: no torch, no moshi."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class KyutaiConfig:
    checkpoint: str | None = None  # a directory, or a Hugging Face repo id in the local cache
    device: str = "cpu"
    slots: int = 16  # concurrent streams: the batch size of every step
    compile: bool | None = None  # torch.compile moshi's kernels; default: on cuda only
    cpu_threads: int | None = None  # torch's threads on a CPU (process-wide); None: torch's own
    languages: tuple[str, ...] = ("en", "fr")
    pause_seconds: float = 0.5  # silence this long ends an utterance (the semantic VAD may
    # end it sooner)
    vad_head: int = 2  # extra head holding the semantic end-of-turn probability, where present
    vad_threshold: float = 0.5
    progress: bool = True
