import threading

import numpy as np

from captioner.engine import SAMPLE_RATE
from captioner.scheduler import CaptionScheduler, SchedulerConfig
from protocol import StatusState
from sfu.room import _HealthWatch

from ..captioner.test_scheduler import Collector, CountingEngine


def test_state_follows_drops_and_the_thread() -> None:
    gate = threading.Event()
    engine = CountingEngine(gate)
    scheduler = CaptionScheduler(engine, Collector(), SchedulerConfig(max_backlog_seconds=0.5))
    scheduler.open_stream("room#1", 0.0)
    scheduler.start()
    watch = _HealthWatch()
    frame = np.zeros(round(0.08 * SAMPLE_RATE), np.float32)
    try:
        assert watch.check(scheduler, "room#1") is StatusState.OK
        scheduler.push("room#1", 0.0, frame)
        assert engine.entered.wait(5)  # the engine is stuck in its first step
        for i in range(20):
            scheduler.push("room#1", 0.08 * i, frame)
        assert watch.check(scheduler, "room#1") is StatusState.DEGRADED
        assert watch.check(scheduler, "room#1") is StatusState.OK  # no new drops since
    finally:
        gate.set()
        scheduler.stop()
    assert watch.check(scheduler, "room#1") is StatusState.UNAVAILABLE
