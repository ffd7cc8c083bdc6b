"""An engine wrapper that reports progress for every chunk it is given.

The Whisper engine returns an update only for streams it decoded in a step; the protocol needs to
know how far each stream's audio has been processed (`Step`, `Marker` echo), so every chunk
without an update gets an empty one at the chunk's end. It also adds up the engine's busy time,
which `/metrics` exports as a counter (a benchmark's real-time factor is its rate).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from captioner.engine import AudioChunk, Engine, StreamUpdate


class ProgressEngine:
    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.name = inner.name
        self.languages = inner.languages
        self.capacity = inner.capacity
        self.busy_seconds = 0.0  # written by the inference thread only

    def open_stream(self, stream_id: str, start: float) -> None:
        self.inner.open_stream(stream_id, start)

    def set_language(self, stream_id: str, language: str | None) -> None:
        self.inner.set_language(stream_id, language)

    def close_stream(self, stream_id: str) -> None:
        self.inner.close_stream(stream_id)

    def step(self, chunks: Sequence[AudioChunk]) -> list[StreamUpdate]:
        started = time.perf_counter()
        updates = self.inner.step(chunks)
        self.busy_seconds += time.perf_counter() - started
        seen = {u.stream_id for u in updates}
        updates.extend(
            StreamUpdate(c.stream_id, audio_end=c.end) for c in chunks if c.stream_id not in seen
        )
        return updates
