"""The asyncio layer over the scheduler: one engine, its inference thread, and each stream's
results delivered on the event loop to that stream's sink.

The SFU (`sfu.captioning.port.InProcessCaptioning`) and the caption server
(`captionserver.server.AsrService`) both run their engine through it, as websockets runs one
sans-I/O core under several adapters: the model is loaded off the loop, the scheduler's thread
hands each step's updates back with `call_soon_threadsafe`, and one stream's failing sink costs
the others nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

import numpy as np

from captioner.engine import Engine, StreamUpdate
from captioner.scheduler import CaptionScheduler, SchedulerConfig, SchedulerStats

logger = logging.getLogger(__name__)


class StreamSink(Protocol):
    """Where one stream's results go; called on the event loop."""

    def on_update(self, update: StreamUpdate) -> None: ...

    def on_finished(self) -> None:
        """The stream's last update was delivered; nothing more will come."""


class CaptionService:
    """An engine behind the batching scheduler's inference thread, for code on an event loop."""

    def __init__(self, engine_factory: Callable[[], Engine], config: SchedulerConfig) -> None:
        self._engine_factory = engine_factory
        self._config = config
        self._scheduler: CaptionScheduler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sinks: dict[str, StreamSink] = {}
        self.engine: Engine | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # Loading the model takes a while: off the loop, like every piece of model work.
        self.engine = await asyncio.to_thread(self._engine_factory)
        self._scheduler = CaptionScheduler(self.engine, self._deliver, self._config)
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

    # --- streams ---------------------------------------------------------------------------------

    def open_stream(self, stream_id: str, start: float, sink: StreamSink) -> None:
        """Admit a stream; `CapacityError` when every slot of the engine is taken."""
        self.scheduler.open_stream(stream_id, start)
        self._sinks[stream_id] = sink

    def push(self, stream_id: str, start: float, pcm: np.ndarray) -> None:
        self.scheduler.push(stream_id, start, pcm)

    def set_language(self, stream_id: str, language: str | None) -> None:
        self.scheduler.set_language(stream_id, language)

    def close_stream(self, stream_id: str) -> None:
        """Its last words are flushed, then its sink's `on_finished`."""
        self.scheduler.close_stream(stream_id)

    def stats(self) -> SchedulerStats:
        if self._scheduler is None:
            return SchedulerStats(0, (), {}, {}, 0.0, 0)
        return self._scheduler.stats()

    # --- results ---------------------------------------------------------------------------------

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
                logger.exception("stream %s: an engine update could not be used", update.stream_id)
        for stream_id in closed:
            sink = self._sinks.pop(stream_id, None)
            if sink is not None:
                sink.on_finished()
