"""The inference thread: batches every active stream into one engine step.

Producers (the SFU's room taps, on the event loop) push audio with `push`, which never blocks: each
stream has a bounded backlog, and audio beyond it is dropped *and counted*, so a model slower than
real time shows up as measured lag and drop counters, never as a stalled event loop. The thread
takes all pending audio of all streams, runs one `engine.step`, and hands the updates to `deliver`
(which the SFU makes thread-safe with `loop.call_soon_threadsafe`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from captioner.engine import SAMPLE_RATE, AudioChunk, Engine, StreamUpdate
from captioner.errors import CapacityError, StreamError

logger = logging.getLogger(__name__)

# Updates of one step, and the streams whose last step that was.
Deliver = Callable[[list[StreamUpdate], list[str]], None]


@dataclass(frozen=True, kw_only=True)
class SchedulerConfig:
    max_backlog_seconds: float = 10.0  # per stream; older audio is dropped and counted
    step_history: int = 512  # step times kept for percentiles


@dataclass
class StreamQueue:
    start: float
    chunks: deque[AudioChunk] = field(default_factory=deque)
    samples: int = 0
    dropped_seconds: float = 0.0
    closing: bool = False
    oldest_arrival: float | None = None  # monotonic time the oldest pending chunk was pushed
    language: str | None = None  # asked for; None: the engine detects it
    language_changed: bool = False  # the engine has not been told yet

    @property
    def backlog_seconds(self) -> float:
        return self.samples / SAMPLE_RATE


@dataclass(frozen=True)
class SchedulerStats:
    steps: int
    step_seconds: tuple[float, ...]
    backlog_seconds: dict[str, float]
    dropped_seconds: dict[str, float]
    wait_seconds: float  # how long the oldest audio of the last step waited for it
    failures: int
    lag_seconds: dict[str, float] = field(default_factory=dict)  # oldest pending audio's age
    realtime_factor: float = 0.0  # step time / audio time over the recent steps (< 1: keeps up)
    capacity: int | None = None  # streams the engine can serve at once; None: no fixed limit
    late_dropped_seconds: float = (
        0.0  # audio the engine dropped undecoded, too late (past capacity)
    )


class CaptionScheduler:
    def __init__(
        self, engine: Engine, deliver: Deliver, config: SchedulerConfig | None = None
    ) -> None:
        self.engine = engine
        self.config = config or SchedulerConfig()
        self._deliver = deliver
        self._streams: dict[str, StreamQueue] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._running = False
        self._steps = 0
        self._failures = 0
        self._step_seconds: deque[float] = deque(maxlen=self.config.step_history)
        self._step_audio: deque[float] = deque(maxlen=self.config.step_history)
        self._wait = 0.0
        self._engine_streams: set[str] = set()

    # --- producers (any thread) ------------------------------------------------------------------

    @property
    def capacity(self) -> int | None:
        return getattr(self.engine, "capacity", None)

    def open_stream(self, stream_id: str, start: float) -> None:
        """Admit a stream; `CapacityError` when every slot of the engine is taken, so that a new
        stream is refused rather than slowing down those already served."""
        with self._cond:
            if stream_id in self._streams:
                raise StreamError(f"stream {stream_id!r} is already open")
            capacity = self.capacity
            if capacity is not None and len(self._streams) >= capacity:
                raise CapacityError(f"all {capacity} streams of the engine are taken")
            self._streams[stream_id] = StreamQueue(start)

    def set_language(self, stream_id: str, language: str | None) -> None:
        """Caption the stream in `language` (None: detect) from its next step on."""
        with self._cond:
            queue = self._streams.get(stream_id)
            if queue is not None and queue.language != language:
                queue.language, queue.language_changed = language, True

    def push(self, stream_id: str, start: float, pcm: np.ndarray) -> None:
        with self._cond:
            queue = self._streams.get(stream_id)
            if queue is None or queue.closing:
                return
            if not queue.chunks:
                queue.oldest_arrival = time.monotonic()
            queue.chunks.append(AudioChunk(stream_id, start, pcm))
            queue.samples += len(pcm)
            limit = int(self.config.max_backlog_seconds * SAMPLE_RATE)
            while queue.samples > limit and len(queue.chunks) > 1:
                dropped = queue.chunks.popleft()
                queue.samples -= len(dropped.pcm)
                if not queue.dropped_seconds:
                    logger.warning(
                        "stream %s: the engine is %.1f s behind; dropping its oldest audio "
                        "(counted in livecaptions_engine_dropped_audio_seconds)",
                        stream_id,
                        self.config.max_backlog_seconds,
                    )
                queue.dropped_seconds += len(dropped.pcm) / SAMPLE_RATE
            self._cond.notify()

    def close_stream(self, stream_id: str) -> None:
        """Finish the stream: its last words are flushed, then its slot is freed."""
        with self._cond:
            queue = self._streams.get(stream_id)
            if queue is not None:
                queue.closing = True
                self._cond.notify()

    # --- the thread ------------------------------------------------------------------------------

    def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._run, name="caption-inference", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._running and self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._running and not self._has_work():
                    self._cond.wait()
                if not self._running:
                    return
                opened, chunks, closed = self._take()
                languages = self._take_languages(chunks)
            try:
                self._set_languages(languages)
                updates = self._step(opened, chunks, closed)
            except Exception:
                self._failures += 1
                logger.exception("engine step failed; its audio is lost")
                updates = []
            if updates or closed:
                self._deliver(updates, closed)

    def _has_work(self) -> bool:
        return any(q.chunks or q.closing for q in self._streams.values())

    def _take(self) -> tuple[list[tuple[str, float]], list[AudioChunk], list[str]]:
        """Under the lock: merge each stream's pending chunks into one."""
        chunks, closed = [], []
        now = time.monotonic()
        arrivals = [q.oldest_arrival for q in self._streams.values() if q.chunks]
        self._wait = max((now - t for t in arrivals if t is not None), default=0.0)
        for stream_id, queue in list(self._streams.items()):
            if queue.chunks:
                pcm = np.concatenate([c.pcm for c in queue.chunks])
                chunks.append(
                    AudioChunk(stream_id, queue.chunks[0].start, pcm, end_of_stream=queue.closing)
                )
                queue.chunks.clear()
                queue.samples = 0
            elif queue.closing:
                chunks.append(
                    AudioChunk(stream_id, queue.start, np.zeros(0, np.float32), end_of_stream=True)
                )
            if queue.closing:
                closed.append(stream_id)
                del self._streams[stream_id]
        opened = [(c.stream_id, c.start) for c in chunks]
        return opened, chunks, closed

    def _take_languages(self, chunks: list[AudioChunk]) -> list[tuple[AudioChunk, str | None]]:
        """Under the lock: language changes of the streams stepped now (a stream is opened in
        the engine with its first audio, so a change waits for audio)."""
        changes = []
        for chunk in chunks:
            queue = self._streams.get(chunk.stream_id)
            if queue is not None and queue.language_changed:
                queue.language_changed = False
                changes.append((chunk, queue.language))
        return changes

    def _set_languages(self, changes: list[tuple[AudioChunk, str | None]]) -> None:
        for chunk, language in changes:
            if chunk.stream_id not in self._engine_streams:
                self.engine.open_stream(chunk.stream_id, chunk.start)
                self._engine_streams.add(chunk.stream_id)
            self.engine.set_language(chunk.stream_id, language)

    def _step(
        self, opened: list[tuple[str, float]], chunks: list[AudioChunk], closed: list[str]
    ) -> list[StreamUpdate]:
        for stream_id, start in opened:
            if stream_id not in self._engine_streams:
                self.engine.open_stream(stream_id, start)
                self._engine_streams.add(stream_id)
        started = time.perf_counter()
        updates = self.engine.step(chunks)
        elapsed = time.perf_counter() - started
        for stream_id in closed:
            self.engine.close_stream(stream_id)
            self._engine_streams.discard(stream_id)
        self._steps += 1
        self._step_seconds.append(elapsed)
        self._step_audio.append(max((len(c.pcm) for c in chunks), default=0) / SAMPLE_RATE)
        return updates

    # --- observation -----------------------------------------------------------------------------

    def stats(self) -> SchedulerStats:
        with self._cond:
            now = time.monotonic()
            audio = sum(self._step_audio)
            return SchedulerStats(
                steps=self._steps,
                step_seconds=tuple(self._step_seconds),
                backlog_seconds={k: q.backlog_seconds for k, q in self._streams.items()},
                dropped_seconds={k: q.dropped_seconds for k, q in self._streams.items()},
                wait_seconds=self._wait,
                failures=self._failures,
                lag_seconds={
                    k: now - q.oldest_arrival if q.chunks and q.oldest_arrival else 0.0
                    for k, q in self._streams.items()
                },
                realtime_factor=sum(self._step_seconds) / audio if audio else 0.0,
                capacity=self.capacity,
                late_dropped_seconds=getattr(
                    getattr(self.engine, "stats", None), "dropped_seconds", 0.0
                ),
            )
