"""The captioning port: the one seam between the SFU and speech-to-text.

A room opens a caption stream (its mix, or one speaker's track) and gets a handle, or `None` when
the captioner has no room for it; it pushes 24 kHz audio stamped on the room clock, and the
stream's word events come back to its `CaptionSink` on the event loop, on the room clock too.
Two implementations: `InProcessCaptioning` (the default: our engine and batching scheduler in this
process) and `remote.RemoteCaptioning` (caption servers speaking ASR-PROTOCOL.md).
Neither knows rooms; rooms know only this module.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

import numpy as np

from captioner.engine import Engine, StreamUpdate
from captioner.errors import CapacityError
from captioner.scheduler import CaptionScheduler, SchedulerConfig, SchedulerStats

logger = logging.getLogger(__name__)


class CaptionSink(Protocol):
    """Where a stream's results go; called on the event loop."""

    def on_update(self, update: StreamUpdate) -> None: ...

    def on_finished(self) -> None:
        """The stream's last update was delivered; nothing more will come."""


class CaptionHandle(Protocol):
    """One admitted stream."""

    @property
    def waiting(self) -> bool:
        """No captioner serves it now, and none had room when last asked."""

    @property
    def degraded(self) -> bool:
        """It lost its captioner and is being moved to another."""

    def push(self, start: float, pcm: np.ndarray) -> None:
        """Audio from room time `start`; never blocks."""

    def set_language(self, language: str | None) -> None:
        """Caption in `language` from now on; None: the captioner detects it."""

    def close(self) -> None:
        """No more audio: flush the last words, then `on_finished`."""


class CaptioningPort(Protocol):
    engine_name: str
    languages: tuple[str, ...]

    @property
    def running(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def open_stream(self, stream_id: str, start: float, sink: CaptionSink) -> CaptionHandle | None:
        """Admit a stream, or `None` when there is no capacity for it now (ask again later)."""

    def stats(self) -> SchedulerStats: ...


def no_stats() -> SchedulerStats:
    return SchedulerStats(0, (), {}, {}, 0.0, 0)


class _LocalHandle:
    def __init__(self, scheduler: CaptionScheduler, stream_id: str) -> None:
        self._scheduler = scheduler
        self._stream_id = stream_id

    waiting = False
    degraded = False

    def push(self, start: float, pcm: np.ndarray) -> None:
        self._scheduler.push(self._stream_id, start, pcm)

    def set_language(self, language: str | None) -> None:
        self._scheduler.set_language(self._stream_id, language)

    def close(self) -> None:
        self._scheduler.close_stream(self._stream_id)


class InProcessCaptioning:
    """Our engine in this process, behind the batching scheduler's inference thread."""

    def __init__(self, engine_factory: Callable[[], Engine], config: SchedulerConfig) -> None:
        self._engine_factory = engine_factory
        self._config = config
        self._scheduler: CaptionScheduler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sinks: dict[str, CaptionSink] = {}
        self.engine_name = ""
        self.languages: tuple[str, ...] = ()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # Loading the model takes a while: off the loop, like every piece of model work.
        engine = await asyncio.to_thread(self._engine_factory)
        self.engine_name, self.languages = engine.name, tuple(engine.languages)
        self._scheduler = CaptionScheduler(engine, self._deliver, self._config)
        self._scheduler.start()

    async def stop(self) -> None:
        if self._scheduler is not None:
            await asyncio.to_thread(self._scheduler.stop)

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    @property
    def scheduler(self) -> CaptionScheduler:
        assert self._scheduler is not None, "captioning is not started"
        return self._scheduler

    def open_stream(self, stream_id: str, start: float, sink: CaptionSink) -> CaptionHandle | None:
        assert self._scheduler is not None, "captioning is not started"
        try:
            self._scheduler.open_stream(stream_id, start)
        except CapacityError as exc:
            logger.warning("stream %s waits for a slot: %s", stream_id, exc)
            return None
        self._sinks[stream_id] = sink
        return _LocalHandle(self._scheduler, stream_id)

    def stats(self) -> SchedulerStats:
        return self._scheduler.stats() if self._scheduler is not None else no_stats()

    def _deliver(self, updates: list[StreamUpdate], closed: list[str]) -> None:
        """Called on the inference thread: hop onto the loop."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._on_updates, updates, closed)

    def _on_updates(self, updates: list[StreamUpdate], closed: list[str]) -> None:
        for update in updates:
            sink = self._sinks.get(update.stream_id)
            if sink is None:
                continue
            try:
                sink.on_update(update)
            except Exception:  # one stream's bad update must not cost the others theirs
                logger.exception(
                    "stream %s: an engine update could not be captioned", update.stream_id
                )
        for stream_id in closed:
            sink = self._sinks.pop(stream_id, None)
            if sink is not None:
                sink.on_finished()
