"""The progress wrapper is a whole engine: a stream's language reaches the engine it wraps (the
scheduler asks for it before a step; without it the step failed and its audio was lost)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from captioner.engine import SAMPLE_RATE, AudioChunk, StreamUpdate
from captionserver.progress import ProgressEngine


class RecordingEngine:
    name = "recording"
    languages = ("en", "fr")
    capacity: int | None = None

    def __init__(self) -> None:
        self.languages_set: list[tuple[str, str | None]] = []

    def open_stream(self, stream_id: str, start: float) -> None:
        pass

    def set_language(self, stream_id: str, language: str | None) -> None:
        self.languages_set.append((stream_id, language))

    def close_stream(self, stream_id: str) -> None:
        pass

    def step(self, chunks: Sequence[AudioChunk]) -> list[StreamUpdate]:
        return []


def test_language_reaches_the_wrapped_engine() -> None:
    inner = RecordingEngine()
    engine = ProgressEngine(inner)
    engine.set_language("s1", "fr")
    engine.set_language("s1", None)
    assert inner.languages_set == [("s1", "fr"), ("s1", None)]


def test_every_chunk_gets_an_update_at_its_end() -> None:
    engine = ProgressEngine(RecordingEngine())
    chunk = AudioChunk("s1", 1.0, np.zeros(SAMPLE_RATE // 2, np.float32))
    assert engine.step([chunk]) == [StreamUpdate("s1", audio_end=1.5)]
