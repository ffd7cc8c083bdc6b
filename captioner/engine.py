"""The engine interface: streaming and batched.

An engine holds per-stream streaming state, one slot per stream. Each `step` takes the new audio of
any number of streams and serves them all in one model step, returning what each stream's
transcript became: words now committed, the tentative words after them, and sometimes a revision
of the last committed words (an engine that re-decodes its audio, like Whisper, may hear a word
better once it has heard what follows it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from protocol import Word

SAMPLE_RATE = 24_000  # the pipeline's rate: what the room tap produces and every engine accepts
FRAME_SECONDS = 0.08  # 80 ms frames, the Kyutai/Mimi frame size


def default_cpu_threads() -> int:
    """An engine's threads when the operator did not say: half the CPUs this process may use.
    The other half is the SFU's (Opus decoding, forwarding, the event loop): on this project's
    2-core machines two engine threads took the CPU the media path needed, and one thread
    decoded the same audio faster (docs/engine.md)."""
    return max(1, len(os.sched_getaffinity(0)) // 2)


@dataclass(frozen=True)
class AudioChunk:
    """New audio of one stream: `pcm` is 24 kHz mono float32 starting at `start` (room clock)."""

    stream_id: str
    start: float
    pcm: np.ndarray
    end_of_stream: bool = False

    @property
    def end(self) -> float:
        return self.start + len(self.pcm) / SAMPLE_RATE


@dataclass(frozen=True)
class Revision:
    """The stream's last `replaces` committed words are now `words` (committed too).

    A revision is a correction of words that are committed but may not be on anyone's screen as
    final yet: the caption assembler applies it only while those words are all in the caption
    it has not closed, and ignores it otherwise (a final caption is never changed)."""

    replaces: int
    words: tuple[Word, ...]


@dataclass(frozen=True)
class StreamUpdate:
    """What one step changed in one stream's transcript.

    `revision`, applied first, corrects earlier committed words; `committed` words are new
    committed words, in order; `tentative` words follow them and may be revised by the next
    update (each update replaces the previous tentative words entirely). `end_of_utterance`
    marks a pause: the speaker stopped, the segment may be closed."""

    stream_id: str
    committed: tuple[Word, ...] = ()
    tentative: tuple[Word, ...] = ()
    end_of_utterance: bool = False
    language: str | None = None
    audio_end: float = 0.0  # room time up to which audio has been processed
    revision: Revision | None = None


@dataclass
class EngineStats:
    """What an engine counts itself (step time, queues and drops are the scheduler's)."""

    steps: int = 0
    # Seconds spent in each phase of its steps since it started (an engine names its own
    # phases, e.g. encode, generate, align): where a step's time goes (docs/engine.md).
    phase_seconds: dict[str, float] = field(default_factory=dict)
    # Audio dropped undecoded because it waited too long past capacity (a bounded delay).
    dropped_seconds: float = 0.0

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.phase_seconds[phase] = self.phase_seconds.get(phase, 0.0) + elapsed


class Engine(Protocol):
    """A streaming speech-to-text engine that serves many streams per step."""

    name: str
    languages: tuple[str, ...]

    @property
    def capacity(self) -> int | None:
        """Streams it can serve at once (batch slots); None: no fixed limit."""

    def open_stream(self, stream_id: str, start: float) -> None: ...

    def set_language(self, stream_id: str, language: str | None) -> None:
        """Caption the stream in `language`, one of `languages`; None: the engine detects it."""
        ...

    def close_stream(self, stream_id: str) -> None: ...

    def step(self, chunks: Sequence[AudioChunk]) -> list[StreamUpdate]: ...
