"""The two caption-log stores behind one interface, chosen by the `--log-db` value: a
`postgresql://` URL opens the cluster's PostgreSQL store, anything else is an SQLite file."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from .corrections import Correction, Result
from .postgres import PostgresStore, is_url
from .records import Flag, Segment, Session, SpeechSpan
from .store import CaptionStore


class Store(Protocol):
    """What the writer, the review API and `livecaptions-review` use of a store."""

    version: int

    def close(self) -> None: ...

    def transaction(self) -> AbstractContextManager[Any]: ...

    def add_session(self, session: Session) -> None: ...

    def end_session(self, session_id: str, ended_unix: float) -> None: ...

    def add_segment(self, segment: Segment) -> None: ...

    def add_speech(self, session_id: str, spans: Sequence[SpeechSpan]) -> None: ...

    def add_flag(self, flag: Flag) -> None: ...

    def correct(self, correction: Correction) -> Result: ...

    def delete_session(self, session_id: str) -> bool: ...

    def purge(self, older_than_days: float, now: float | None = None) -> int: ...

    def sessions(
        self,
        *,
        room: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]: ...

    def session(self, session_id: str) -> dict[str, Any]: ...

    def segments(self, session_id: str) -> list[dict[str, Any]]: ...

    def speech(self, session_id: str) -> list[SpeechSpan]: ...

    def flags(self, session_id: str) -> list[dict[str, Any]]: ...

    def corrections(self, session_id: str) -> list[dict[str, Any]]: ...

    def search(
        self, text: str, *, room: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]: ...


def open_store(target: str | Path, *, create: bool = True) -> Store:
    """The store at `target`: a postgresql:// URL, or an SQLite file path."""
    if is_url(target):
        return PostgresStore(str(target), create=create)
    return CaptionStore(Path(target), create=create)


def log_target(value: str) -> str | Path:
    """A `--log-db`/`--db` argument: URLs stay strings (a Path would fold their `//`)."""
    return value if is_url(value) else Path(value)
