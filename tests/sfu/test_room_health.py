import threading

import numpy as np
import pytest

from captioner.engine import SAMPLE_RATE, StreamUpdate
from captioner.errors import CapacityError
from captioner.scheduler import SchedulerConfig
from protocol import StatusState
from sfu.captioning.port import InProcessCaptioning
from sfu.captioning.stream import CaptionStream
from sfu.rooms.room import _HealthWatch

from ..captioner.test_scheduler import CountingEngine

pytestmark = pytest.mark.asyncio


def no_speaker(start: float, end: float) -> None:
    return None


class Sink:
    def __init__(self) -> None:
        self.updates: list[StreamUpdate] = []
        self.finished = threading.Event()

    def on_update(self, update: StreamUpdate) -> None:
        self.updates.append(update)

    def on_finished(self) -> None:
        self.finished.set()


async def test_state_follows_drops_and_the_thread() -> None:
    gate = threading.Event()
    engine = CountingEngine(gate)
    captioning = InProcessCaptioning(lambda: engine, SchedulerConfig(max_backlog_seconds=0.5))
    await captioning.start()
    scheduler = captioning.scheduler
    stream = CaptionStream("room#1", "room", no_speaker, captioning, Sink(), 0.0)
    watch = _HealthWatch()
    frame = np.zeros(round(0.08 * SAMPLE_RATE), np.float32)
    try:
        assert watch.check(captioning, [stream]) is StatusState.OK
        scheduler.push("room#1", 0.0, frame)
        assert engine.entered.wait(5)  # the engine is stuck in its first step
        for i in range(20):
            scheduler.push("room#1", 0.08 * i, frame)
        assert watch.check(captioning, [stream]) is StatusState.DEGRADED
        assert watch.check(captioning, [stream]) is StatusState.OK  # no new drops since
        assert scheduler.stats().lag_seconds["room#1"] > 0
    finally:
        gate.set()
        await captioning.stop()
    assert watch.check(captioning, [stream]) is StatusState.UNAVAILABLE


async def test_streams_beyond_the_engines_slots_wait_and_say_so() -> None:
    import asyncio

    engine = CountingEngine()
    engine.capacity = 1  # type: ignore[attr-defined]
    captioning = InProcessCaptioning(lambda: engine, SchedulerConfig())
    await captioning.start()
    watch = _HealthWatch()
    sink = Sink()
    try:
        first = CaptionStream("a#1", "a", no_speaker, captioning, sink, 0.0)
        second = CaptionStream("b#2", "b", no_speaker, captioning, Sink(), 0.0)
        assert first.admitted and not second.admitted
        with pytest.raises(CapacityError):
            captioning.scheduler.open_stream("c#3", 0.0)
        assert watch.check(captioning, [second]) is StatusState.UNAVAILABLE
        assert watch.check(captioning, [first, second]) is StatusState.DEGRADED
        assert captioning.stats().capacity == 1
        first.close()  # its slot frees once its last step has run
        await asyncio.wait_for(asyncio.to_thread(sink.finished.wait, 10), 15)
        assert second.admit(1.0)
        assert watch.check(captioning, [second]) is StatusState.OK
    finally:
        await captioning.stop()
