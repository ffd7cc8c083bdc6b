"""Locust load test: every user is a real WebRTC participant of protocol v1.

Locust runs on gevent; aiortc needs asyncio. Each locust process runs one asyncio loop in a real OS
thread (gevent's original Thread, not its patched one) and submits each user's participant to it.
Users fill rooms in order: in each room of --room-size participants, the first --speakers-per-room
speak (a clip from --clips played in a loop, --turn-gap seconds apart) and the others listen:
lightweight listeners (`client.listener`: real protocol, packets counted, never decoded) unless
--full-listeners. All enable subtitles. Reported to locust as request events:

    webrtc / join             time to join (signaling + ICE + DTLS + data channel)
    webrtc / first caption    time from joined to the first caption received
    caption / final caption   PROTOCOL.md caption latency of each final caption received
    accuracy / wer            WER of a speaker's turn, as "response time" in 1/1000 (100 = 10 %)
    media / forwarded packets a listener's packets received over expected per source, in 1/1000
    failures                  join refused, ICE failed, signaling closed, error frames

With --events-file, every event is also appended there as a JSON line, for exact percentiles.

    locust -f loadtests/locustfile.py --headless -u 4 -r 1 -t 60s --host ws://127.0.0.1:8080/ws
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import itertools
import json
import logging
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import gevent
from gevent import monkey
from locust import User, constant, events, task
from locust.env import Environment
from locust.exception import StopUser

from loadtests.scenario import ClipsError, Detail, ParticipantRun, Scenario, load_clips

T = TypeVar("T")

RealThread = monkey.get_original("threading", "Thread")
DEFAULT_CLIPS = Path(__file__).with_name("clips.json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--room-size", type=int, default=2, help="participants per room")
    parser.add_argument("--speakers-per-room", type=int, default=1)
    parser.add_argument(
        "--clips",
        default=str(DEFAULT_CLIPS),
        help="JSON list of {audio, text}: the speakers' audio and reference text",
    )
    parser.add_argument("--turn-gap", type=float, default=3.0, help="seconds between plays")
    parser.add_argument("--room-prefix", default="load")
    parser.add_argument(
        "--full-listeners",
        action="store_true",
        help="listeners decode every packet like a real participant (default: they count it)",
    )
    parser.add_argument("--events-file", default="", help="append every event as a JSON line")


events.init_command_line_parser.add_listener(add_arguments)


class AsyncioRunner:
    """One asyncio loop in a real thread, for all the users of this locust process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = RealThread(target=self.loop.run_forever, name="aiortc-loop", daemon=True)
        self.thread.start()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)


class EventSink:
    """Fires locust request events from the locust side (the asyncio thread only queues them)."""

    KINDS = {
        "join": ("webrtc", 1000.0),
        "first_caption": ("webrtc", 1000.0),
        "caption_latency": ("caption", 1000.0),
        "wer": ("accuracy", 1000.0),
        "delivery": ("media", 1000.0),
        "failure": ("failure", 1000.0),
    }

    def __init__(self, environment: Environment, path: str) -> None:
        self.environment = environment
        self.pending: list[tuple[str, str, float, str | None, Detail | None, float]] = []
        self.file = open(path, "a") if path else None  # noqa: SIM115 - closed at test stop

    def __call__(
        self, kind: str, name: str, value: float, error: str | None, detail: Detail | None
    ) -> None:
        self.pending.append((kind, name, value, error, detail, time.time()))  # atomic append

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        for kind, name, value, error, detail, at in pending:
            request_type, scale = self.KINDS[kind]
            self.environment.events.request.fire(
                request_type=request_type,
                name=name,
                response_time=value * scale,
                response_length=0,
                exception=RuntimeError(error) if error else None,
                context={},
            )
            if self.file is not None:
                runner = self.environment.runner
                entry = {
                    "t": at,
                    "kind": kind,
                    "name": name,
                    "value": value,
                    "error": error,
                    "users": runner.user_count if runner else 0,
                    "detail": detail,
                }
                self.file.write(json.dumps(entry) + "\n")
        if self.file is not None:
            self.file.flush()


@dataclass(frozen=True)
class LoadRun:
    """What the users of this locust process share: made at test start, one per test."""

    runner: AsyncioRunner
    sink: EventSink
    index: Iterator[int]  # the next user's participant number
    scenario: Scenario


def current_run(environment: Environment) -> LoadRun:
    """This test's shared state, kept on locust's environment (one per test, no global)."""
    run = getattr(environment, "caption_run", None)
    assert isinstance(run, LoadRun), "users start after test_start"
    return run


def on_test_start(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    assert options is not None, "the locust command line was parsed"
    try:
        clips = load_clips(options.clips)
    except ClipsError as exc:
        # Say why and stop, rather than let every user fail later on a missing run.
        logging.error("%s", exc)
        environment.process_exit_code = 2
        if environment.runner is not None:
            gevent.spawn(environment.runner.quit)
        return
    environment.caption_run = LoadRun(  # type: ignore[attr-defined]  # locust has no slot for it
        runner=AsyncioRunner(),
        sink=EventSink(environment, options.events_file),
        index=itertools.count(),
        scenario=Scenario(
            url=environment.host or "ws://127.0.0.1:8080/ws",
            clips=clips,
            room_size=options.room_size,
            speakers_per_room=options.speakers_per_room,
            room_prefix=options.room_prefix,
            turn_gap=options.turn_gap,
            full_listeners=options.full_listeners,
        ),
    )


def on_test_stop(environment: Environment, **_: Any) -> None:
    run = getattr(environment, "caption_run", None)
    if isinstance(run, LoadRun):
        run.sink.flush()
        if run.sink.file is not None:
            run.sink.file.close()


events.test_start.add_listener(on_test_start)
events.test_stop.add_listener(on_test_stop)


class CaptionParticipant(User):
    """A participant that stays in its room for the whole run."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self._stop: asyncio.Event | None = None
        self._future: concurrent.futures.Future[None] | None = None
        self._index = -1
        if getattr(self.environment, "caption_run", None) is not None:
            self._index = next(current_run(self.environment).index)

    @task
    def take_part(self) -> None:
        if self._index < 0:  # test_start failed and said why: the run is stopping
            raise StopUser
        run = current_run(self.environment)
        sink = run.sink
        participant = ParticipantRun(run.scenario, self._index, sink)
        stop = asyncio.Event()
        self._stop = stop
        future = self._future = run.runner.submit(participant.run(stop))
        try:
            while not future.done():
                sink.flush()
                gevent.sleep(0.25)
        finally:
            sink.flush()
        future.result()  # re-raise a crash of the participant itself
        gevent.sleep(1.0)  # a participant that failed to join retries after a second

    def on_stop(self) -> None:
        if getattr(self.environment, "caption_run", None) is None:
            return
        run = current_run(self.environment)
        if self._stop is not None and self._future is not None:
            run.runner.loop.call_soon_threadsafe(self._stop.set)
            deadline = time.monotonic() + 10
            while not self._future.done() and time.monotonic() < deadline:
                gevent.sleep(0.1)
        run.sink.flush()
