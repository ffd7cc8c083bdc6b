import threading

import numpy as np
import pytest

from captioner.engine import SAMPLE_RATE
from captioner.errors import CapacityError
from captioner.scheduler import CaptionScheduler, SchedulerConfig
from protocol import StatusState
from sfu.caption_stream import CaptionStream
from sfu.room import _HealthWatch

from ..captioner.test_scheduler import Collector, CountingEngine


def no_speaker(start: float, end: float) -> None:
    return None


def test_state_follows_drops_and_the_thread() -> None:
    gate = threading.Event()
    engine = CountingEngine(gate)
    scheduler = CaptionScheduler(engine, Collector(), SchedulerConfig(max_backlog_seconds=0.5))
    stream = CaptionStream("room#1", "room", no_speaker, scheduler, 0.0)
    scheduler.start()
    watch = _HealthWatch()
    frame = np.zeros(round(0.08 * SAMPLE_RATE), np.float32)
    try:
        assert watch.check(scheduler, [stream]) is StatusState.OK
        scheduler.push("room#1", 0.0, frame)
        assert engine.entered.wait(5)  # the engine is stuck in its first step
        for i in range(20):
            scheduler.push("room#1", 0.08 * i, frame)
        assert watch.check(scheduler, [stream]) is StatusState.DEGRADED
        assert watch.check(scheduler, [stream]) is StatusState.OK  # no new drops since
        assert scheduler.stats().lag_seconds["room#1"] > 0
    finally:
        gate.set()
        scheduler.stop()
    assert watch.check(scheduler, [stream]) is StatusState.UNAVAILABLE


def test_streams_beyond_the_engines_slots_wait_and_say_so() -> None:
    engine = CountingEngine()
    engine.capacity = 1  # type: ignore[attr-defined]
    collector = Collector()
    scheduler = CaptionScheduler(engine, collector)
    scheduler.start()
    watch = _HealthWatch()
    try:
        first = CaptionStream("a#1", "a", no_speaker, scheduler, 0.0)
        second = CaptionStream("b#2", "b", no_speaker, scheduler, 0.0)
        assert first.admitted and not second.admitted
        with pytest.raises(CapacityError):
            scheduler.open_stream("c#3", 0.0)
        assert watch.check(scheduler, [second]) is StatusState.UNAVAILABLE
        assert watch.check(scheduler, [first, second]) is StatusState.DEGRADED
        assert scheduler.stats().capacity == 1
        first.close()  # its slot frees once its last step has run
        collector.wait(lambda: "a#1" in collector.closed)
        assert second.admit(1.0)
        assert watch.check(scheduler, [second]) is StatusState.OK
    finally:
        scheduler.stop()
