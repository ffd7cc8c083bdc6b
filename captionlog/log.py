"""The caption log's writer thread, and reads for the reviewer surface.

The event loop hands records to `CaptionLog` without waiting; a dedicated thread writes whatever
has queued up in one transaction (SQLite, WAL, synchronous=FULL) and counts what it acknowledged.
A record is acknowledged once its transaction committed: from then on it survives `kill -9`.
Reviewers' requests open their own connection, so a slow export never holds up the writer.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .backends import Store, open_store
from .records import Flag, Segment, Session, SpeechSpan

logger = logging.getLogger(__name__)

T = TypeVar("T")
PURGE_EVERY_SECONDS = 3600.0


class _Nothing:
    """What the writer holds when nothing came off the queue before the next purge was due."""


_NOTHING = _Nothing()


@dataclass(frozen=True, kw_only=True)
class LogConfig:
    # The SQLite file, or a postgresql:// URL (a cluster's shared log); None: not logged.
    path: Path | str | None = None
    retention_days: float | None = None  # segments older than this are purged; None: kept
    reviewer_token: str | None = None  # opens /review/ and /api/; None: no reviewer access


@dataclass(frozen=True)
class _Ended:
    session_id: str
    ended_unix: float


@dataclass(frozen=True)
class _Speech:
    session_id: str
    spans: tuple[SpeechSpan, ...]


@dataclass(frozen=True)
class _Barrier:
    done: threading.Event


_Record = Session | Segment | _Speech | Flag | _Ended | _Barrier


class CaptionLog:
    def __init__(self, config: LogConfig) -> None:
        assert config.path is not None, "a log needs a path"
        self.config = config
        self.path: Path | str = config.path
        self.acknowledged = 0  # records committed
        self.failures = 0  # transactions that failed (their records were then retried alone)
        self.rejected = 0  # records that could not be written even alone (lost, and logged)
        self._queue: queue.SimpleQueue[_Record | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._store: Store | None = None

    # --- life ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Open (and migrate) the store, purge, start the writer; raises LogError if unusable."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                self._store = open_store(self.path)
                self._purge()
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                return
            ready.set()
            self._write_loop()

        self._thread = threading.Thread(target=run, name="caption-log", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            raise errors[0]

    def stop(self) -> None:
        """Write what is queued, then close."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def flush(self, timeout: float = 30.0) -> bool:
        """Block until everything queued before this call is committed (or failed)."""
        done = threading.Event()
        self._queue.put(_Barrier(done))
        return done.wait(timeout)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    # --- records (any thread; never blocks) -------------------------------------------------------

    def session_started(self, session: Session) -> None:
        self._queue.put(session)

    def session_ended(self, session_id: str, ended_unix: float) -> None:
        self._queue.put(_Ended(session_id, ended_unix))

    def segment(self, segment: Segment) -> None:
        self._queue.put(segment)

    def speech(self, session_id: str, spans: list[SpeechSpan]) -> None:
        if spans:
            self._queue.put(_Speech(session_id, tuple(spans)))

    def flag(self, flag: Flag) -> None:
        self._queue.put(flag)

    # --- reviewers' requests (call off the event loop) -------------------------------------------

    def with_store(self, query: Callable[[Store], T]) -> T:
        """Run `query` on a connection of its own: reads, and a reviewer's deletion (SQLite
        serialises it with the writer's transactions)."""
        store = open_store(self.path, create=False)
        try:
            return query(store)
        finally:
            store.close()

    # --- the writer thread ------------------------------------------------------------------------

    def _write_loop(self) -> None:
        assert self._store is not None
        next_purge = time.monotonic() + PURGE_EVERY_SECONDS
        running = True
        while running:
            first: _Record | _Nothing | None = _NOTHING
            with contextlib.suppress(queue.Empty):
                first = self._queue.get(timeout=max(1.0, next_purge - time.monotonic()))
            batch: list[_Record] = []
            barriers: list[_Barrier] = []
            for record in self._drain(first):
                if record is None:
                    running = False
                elif isinstance(record, _Barrier):
                    barriers.append(record)
                else:
                    batch.append(record)
            if batch:
                self._write(batch)
            for barrier in barriers:
                barrier.done.set()
            if time.monotonic() >= next_purge:
                next_purge = time.monotonic() + PURGE_EVERY_SECONDS
                self._purge()
        self._store.close()

    def _drain(self, first: _Record | _Nothing | None) -> list[_Record | None]:
        records: list[_Record | None] = [] if isinstance(first, _Nothing) else [first]
        while True:
            try:
                records.append(self._queue.get_nowait())
            except queue.Empty:
                return records

    def _write(self, batch: list[_Record]) -> None:
        """One transaction for the batch; if it fails, each record in a transaction of its own,
        so that one bad record never costs the others (other rooms' captions among them)."""
        try:
            self._commit(batch)
        except Exception as exc:
            self.failures += 1
            if len(batch) == 1:
                self._reject(batch[0], exc)
                return
            logger.warning(
                "caption log: a batch of %d failed (%r); writing one by one", len(batch), exc
            )
            for record in batch:
                try:
                    self._commit([record])
                except Exception as error:
                    self._reject(record, error)

    def _commit(self, records: list[_Record]) -> None:
        assert self._store is not None
        store = self._store
        with store.transaction():
            for record in records:
                if isinstance(record, Session):
                    store.add_session(record)
                elif isinstance(record, Segment):
                    store.add_segment(record)
                elif isinstance(record, _Speech):
                    store.add_speech(record.session_id, record.spans)
                elif isinstance(record, Flag):
                    store.add_flag(record)
                elif isinstance(record, _Ended):
                    store.end_session(record.session_id, record.ended_unix)
        self.acknowledged += len(records)

    def _reject(self, record: _Record, error: Exception) -> None:
        self.rejected += 1
        logger.error(
            "caption log: a %s record of session %s was rejected: %r",
            type(record).__name__.lstrip("_").lower(),
            getattr(record, "session_id", getattr(record, "id", "?")),
            error,
        )

    def _purge(self) -> None:
        days = self.config.retention_days
        if days is None or self._store is None:
            return
        try:
            deleted = self._store.purge(days)
        except Exception:
            logger.exception("caption log: purge failed")
            return
        if deleted:
            logger.info("caption log: purged %d segments older than %g days", deleted, days)
