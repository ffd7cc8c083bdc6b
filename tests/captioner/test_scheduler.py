"""The scheduler with a small engine that really consumes audio: it reports, per step, how many
samples each stream brought, so batching, back-pressure and flushing are observable."""

import threading
from collections.abc import Sequence

import numpy as np

from captioner.engine import SAMPLE_RATE, AudioChunk, StreamUpdate
from captioner.scheduler import CaptionScheduler, SchedulerConfig
from protocol import Word


class CountingEngine:
    name = "counting"
    languages = ("en",)

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.gate = gate
        self.entered = threading.Event()  # set when a step starts
        self.open: set[str] = set()
        self.steps: list[dict[str, int]] = []

    def open_stream(self, stream_id: str, start: float) -> None:
        self.open.add(stream_id)

    def close_stream(self, stream_id: str) -> None:
        self.open.discard(stream_id)

    def step(self, chunks: Sequence[AudioChunk]) -> list[StreamUpdate]:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(5)
        self.steps.append({c.stream_id: len(c.pcm) for c in chunks})
        return [
            StreamUpdate(
                c.stream_id,
                (Word(str(len(c.pcm)), c.start, c.end),),
                end_of_utterance=c.end_of_stream,
            )
            for c in chunks
        ]


class Collector:
    def __init__(self) -> None:
        self.updates: list[StreamUpdate] = []
        self.closed: list[str] = []
        self.cond = threading.Condition()

    def __call__(self, updates: list[StreamUpdate], closed: list[str]) -> None:
        with self.cond:
            self.updates += updates
            self.closed += closed
            self.cond.notify_all()

    def wait(self, predicate) -> None:
        with self.cond:
            assert self.cond.wait_for(predicate, timeout=5)


def frame(seconds: float = 0.08) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), np.float32)


def test_one_step_serves_every_stream_with_all_its_pending_audio() -> None:
    gate = threading.Event()
    engine, collect = CountingEngine(gate), Collector()
    scheduler = CaptionScheduler(engine, collect)
    scheduler.open_stream("a", 0.0)
    scheduler.open_stream("b", 0.0)
    scheduler.start()
    try:
        scheduler.push("a", 0.0, frame())  # taken by the first step, which blocks on the gate
        assert engine.entered.wait(5)
        for i in range(3):
            scheduler.push("a", 0.08 * (i + 1), frame())
            scheduler.push("b", 0.08 * i, frame())
        gate.set()
        collect.wait(lambda: len(engine.steps) == 2)
        assert engine.steps == [{"a": 1920}, {"a": 3 * 1920, "b": 3 * 1920}]
        total = {s: sum(step.get(s, 0) for step in engine.steps) for s in ("a", "b")}
        assert total == {"a": 4 * 1920, "b": 3 * 1920}
    finally:
        scheduler.stop()


def test_backlog_is_bounded_and_drops_are_counted() -> None:
    gate = threading.Event()
    engine, collect = CountingEngine(gate), Collector()
    scheduler = CaptionScheduler(engine, collect, SchedulerConfig(max_backlog_seconds=1.0))
    scheduler.open_stream("a", 0.0)
    scheduler.start()
    try:
        scheduler.push("a", 0.0, frame())
        assert engine.entered.wait(5)
        for i in range(50):  # 4 s of audio while the engine is stuck
            scheduler.push("a", 0.08 * i, frame())
        stats = scheduler.stats()
        assert stats.backlog_seconds["a"] <= 1.0 + 1e-9
        assert abs(stats.dropped_seconds["a"] - (50 * 0.08 - 1.0)) < 0.1
    finally:
        gate.set()
        scheduler.stop()


def test_closing_flushes_and_reports_the_stream() -> None:
    engine, collect = CountingEngine(), Collector()
    scheduler = CaptionScheduler(engine, collect)
    scheduler.open_stream("a", 0.0)
    scheduler.start()
    try:
        scheduler.push("a", 0.0, frame(0.16))
        scheduler.close_stream("a")
        collect.wait(lambda: "a" in collect.closed)
        assert collect.updates[-1].end_of_utterance
        assert "a" not in engine.open
        scheduler.push("a", 0.2, frame())  # after close: ignored, no error
        assert scheduler.stats().backlog_seconds == {}
    finally:
        scheduler.stop()


def test_a_failing_step_is_counted_and_the_thread_lives_on() -> None:
    class Failing(CountingEngine):
        def step(self, chunks):
            if not self.steps:
                self.steps.append({})
                raise RuntimeError("boom")
            return super().step(chunks)

    engine, collect = Failing(), Collector()
    scheduler = CaptionScheduler(engine, collect)
    scheduler.open_stream("a", 0.0)
    scheduler.start()
    try:
        scheduler.push("a", 0.0, frame())
        scheduler.push("a", 0.08, frame())
        collect.wait(lambda: bool(collect.updates) or scheduler.stats().failures > 0)
        scheduler.push("a", 0.16, frame())
        collect.wait(lambda: bool(collect.updates))
        assert scheduler.stats().failures == 1
        assert scheduler.running
    finally:
        scheduler.stop()
