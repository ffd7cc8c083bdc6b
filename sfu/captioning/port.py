"""The captioning port: the one seam between the SFU and speech-to-text.

A room opens a caption stream (its mix, or one speaker's track) and gets a handle, or `None` when
the captioner has no room for it; it pushes 24 kHz audio stamped on the room clock, and the
stream's word events come back to its `CaptionSink` on the event loop, on the room clock too.
Two implementations: `InProcessCaptioning` (the default: our engine and batching scheduler in this
process) and `remote.RemoteCaptioning` (caption servers speaking ASR-PROTOCOL.md).
Neither knows rooms; rooms know only this module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import numpy as np

from captioner.engine import Engine
from captioner.errors import CapacityError
from captioner.scheduler import CaptionScheduler, SchedulerConfig, SchedulerStats
from captioner.service import CaptionService, StreamSink

logger = logging.getLogger(__name__)


CaptionSink = StreamSink  # where a stream's results go, on the event loop


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


class _LocalHandle:
    def __init__(self, service: CaptionService, stream_id: str) -> None:
        self._service = service
        self._stream_id = stream_id

    waiting = False
    degraded = False

    def push(self, start: float, pcm: np.ndarray) -> None:
        self._service.push(self._stream_id, start, pcm)

    def set_language(self, language: str | None) -> None:
        self._service.set_language(self._stream_id, language)

    def close(self) -> None:
        self._service.close_stream(self._stream_id)


class InProcessCaptioning:
    """Our engine in this process (`captioner.service`, the batching scheduler's thread)."""

    def __init__(self, engine_factory: Callable[[], Engine], config: SchedulerConfig) -> None:
        self._service = CaptionService(engine_factory, config)
        self.engine_name = ""
        self.languages: tuple[str, ...] = ()

    async def start(self) -> None:
        await self._service.start()
        engine = self._service.engine
        assert engine is not None
        self.engine_name, self.languages = engine.name, tuple(engine.languages)

    async def stop(self) -> None:
        await self._service.stop()

    @property
    def running(self) -> bool:
        return self._service.running

    @property
    def scheduler(self) -> CaptionScheduler:
        return self._service.scheduler

    def open_stream(self, stream_id: str, start: float, sink: CaptionSink) -> CaptionHandle | None:
        try:
            self._service.open_stream(stream_id, start, sink)
        except CapacityError as exc:
            logger.warning("stream %s waits for a slot: %s", stream_id, exc)
            return None
        return _LocalHandle(self._service, stream_id)

    def stats(self) -> SchedulerStats:
        return self._service.stats()
