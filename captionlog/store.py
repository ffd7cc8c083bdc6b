"""The caption log's durable store: SQLite in WAL mode, with versioned schema migrations.

One `CaptionStore` per thread (sqlite3 connections stay on the thread that made them). Writes
commit with `synchronous=FULL`: once `add_segment` returns, the segment survives a crash of the
process or of the machine. Readers use their own connections and see committed data only.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import corrections
from .corrections import Correction, Result
from .errors import LogError, NotFound
from .records import SEGMENT_FIELDS, Flag, Segment, Session, SpeechSpan, row

# Each entry upgrades the schema by one version; `PRAGMA user_version` says which apply.
MIGRATIONS: tuple[str, ...] = (
    # 1: sessions, final segments with their words, full-text search, speech spans, flags.
    """
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        room TEXT NOT NULL,
        started_unix REAL NOT NULL,
        ended_unix REAL,
        clock_origin REAL NOT NULL,
        engine TEXT NOT NULL,
        mode TEXT NOT NULL
    );
    CREATE INDEX sessions_by_room ON sessions (room, started_unix);
    CREATE INDEX sessions_by_start ON sessions (started_unix);
    CREATE TABLE segments (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        segment TEXT NOT NULL,
        speaker_id TEXT,
        speaker_name TEXT,
        start REAL NOT NULL,
        "end" REAL NOT NULL,
        start_unix REAL NOT NULL,
        end_unix REAL NOT NULL,
        text TEXT NOT NULL,
        words TEXT NOT NULL,
        language TEXT,
        engine TEXT NOT NULL,
        latency REAL,
        UNIQUE (session_id, segment)
    );
    CREATE INDEX segments_by_session ON segments (session_id, start);
    CREATE INDEX segments_by_end ON segments (end_unix);
    CREATE VIRTUAL TABLE segments_fts USING fts5 (
        text, speaker_name, content='segments', content_rowid='id'
    );
    CREATE TRIGGER segments_fts_insert AFTER INSERT ON segments BEGIN
        INSERT INTO segments_fts (rowid, text, speaker_name)
        VALUES (new.id, new.text, new.speaker_name);
    END;
    CREATE TRIGGER segments_fts_delete AFTER DELETE ON segments BEGIN
        INSERT INTO segments_fts (segments_fts, rowid, text, speaker_name)
        VALUES ('delete', old.id, old.text, old.speaker_name);
    END;
    CREATE TABLE speech (
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        start REAL NOT NULL,
        "end" REAL NOT NULL
    );
    CREATE INDEX speech_by_session ON speech (session_id, start);
    CREATE TABLE flags (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        segment TEXT NOT NULL,
        participant_id TEXT NOT NULL,
        participant_name TEXT NOT NULL,
        flagged_unix REAL NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE INDEX flags_by_session ON flags (session_id);
    """,
    # 2: search ignores every accent: "crepes" finds "crêpes" (version 1 did too, unicode61's
    # default folds letters with one diacritic) and now "viet" finds "Việt", whose letters carry
    # two (remove_diacritics 2). The index is rebuilt from the segments.
    """
    DROP TRIGGER segments_fts_insert;
    DROP TRIGGER segments_fts_delete;
    DROP TABLE segments_fts;
    CREATE VIRTUAL TABLE segments_fts USING fts5 (
        text, speaker_name, content='segments', content_rowid='id',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER segments_fts_insert AFTER INSERT ON segments BEGIN
        INSERT INTO segments_fts (rowid, text, speaker_name)
        VALUES (new.id, new.text, new.speaker_name);
    END;
    CREATE TRIGGER segments_fts_delete AFTER DELETE ON segments BEGIN
        INSERT INTO segments_fts (segments_fts, rowid, text, speaker_name)
        VALUES ('delete', old.id, old.text, old.speaker_name);
    END;
    INSERT INTO segments_fts (segments_fts) VALUES ('rebuild');
    """,
    # 3: reviewers' corrections (captionlog/corrections.py) and human captioners' lines. A
    # segment keeps its captioned text and speaker; a correction sets corrected_* and bumps rev;
    # `corrections` keeps every attempt. Search reads the text as corrected, through a view.
    """
    ALTER TABLE segments ADD COLUMN source TEXT NOT NULL DEFAULT 'automatic';
    ALTER TABLE segments ADD COLUMN captioner TEXT;
    ALTER TABLE segments ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE segments ADD COLUMN corrected_text TEXT;
    ALTER TABLE segments ADD COLUMN corrected_speaker TEXT;
    CREATE TABLE corrections (
        id INTEGER PRIMARY KEY,
        segment_id INTEGER NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
        session_id TEXT NOT NULL,
        segment TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('applied', 'conflict')),
        base_rev INTEGER NOT NULL,
        rev INTEGER NOT NULL,
        author TEXT NOT NULL,
        corrected_unix REAL NOT NULL,
        text_before TEXT NOT NULL,
        text_after TEXT NOT NULL,
        speaker_before TEXT,
        speaker_after TEXT,
        note TEXT NOT NULL
    );
    CREATE INDEX corrections_by_session ON corrections (session_id, id);
    CREATE INDEX corrections_by_segment ON corrections (segment_id);
    DROP TRIGGER segments_fts_insert;
    DROP TRIGGER segments_fts_delete;
    DROP TABLE segments_fts;
    CREATE VIEW segments_now AS SELECT id, coalesce(corrected_text, text) AS text,
        coalesce(corrected_speaker, speaker_name) AS speaker_name FROM segments;
    CREATE VIRTUAL TABLE segments_fts USING fts5 (
        text, speaker_name, content='segments_now', content_rowid='id',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER segments_fts_insert AFTER INSERT ON segments BEGIN
        INSERT INTO segments_fts (rowid, text, speaker_name) VALUES (new.id,
            coalesce(new.corrected_text, new.text),
            coalesce(new.corrected_speaker, new.speaker_name));
    END;
    CREATE TRIGGER segments_fts_delete AFTER DELETE ON segments BEGIN
        INSERT INTO segments_fts (segments_fts, rowid, text, speaker_name) VALUES ('delete', old.id,
            coalesce(old.corrected_text, old.text),
            coalesce(old.corrected_speaker, old.speaker_name));
    END;
    CREATE TRIGGER segments_fts_update AFTER UPDATE ON segments BEGIN
        INSERT INTO segments_fts (segments_fts, rowid, text, speaker_name) VALUES ('delete', old.id,
            coalesce(old.corrected_text, old.text),
            coalesce(old.corrected_speaker, old.speaker_name));
        INSERT INTO segments_fts (rowid, text, speaker_name) VALUES (new.id,
            coalesce(new.corrected_text, new.text),
            coalesce(new.corrected_speaker, new.speaker_name));
    END;
    INSERT INTO segments_fts (segments_fts) VALUES ('rebuild');
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
# Sessions with their numbers of segments, of reviewed segments and of flags.
SESSION_LIST = (
    "SELECT s.*, (SELECT COUNT(*) FROM segments g WHERE g.session_id = s.id) AS segments, "
    "(SELECT COUNT(*) FROM segments g WHERE g.session_id = s.id AND g.rev > 0) AS reviewed, "
    "(SELECT COUNT(*) FROM flags f WHERE f.session_id = s.id) AS flags FROM sessions s"
)
SEARCH_TERM = re.compile(r"\w+", re.UNICODE)
MAX_SEARCH_TERMS = 12


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=10.0, isolation_level=None)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA busy_timeout = 10000")
    return connection


def migrate(connection: sqlite3.Connection, path: Path) -> int:
    """Bring the schema to SCHEMA_VERSION, one transaction per migration; returns the version."""
    connection.execute("PRAGMA journal_mode = WAL")
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise LogError(
            f"{path} has caption-log schema version {version}, newer than this server's "
            f"{SCHEMA_VERSION}: upgrade the server, or point --log-db at another file"
        )
    for number in range(version, SCHEMA_VERSION):
        statements = MIGRATIONS[number]
        try:
            connection.execute("BEGIN IMMEDIATE")
            for statement in _split(statements):
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {number + 1}")
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            connection.execute("ROLLBACK")
            raise LogError(
                f"{path}: migration to schema version {number + 1} failed: {exc}"
            ) from exc
    return SCHEMA_VERSION


def _split(script: str) -> Iterator[str]:
    """Statements of a migration, triggers (BEGIN … END;) kept whole."""
    pending = ""
    for line in script.strip().splitlines():
        pending += line + "\n"
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        yield pending.strip()


def fts_query(text: str) -> str:
    """A user's search text as a safe FTS5 query: its words, each quoted, all required.

    FTS5 has its own syntax (NEAR, column filters, quotes, *); user text is never passed raw."""
    terms = SEARCH_TERM.findall(text)[:MAX_SEARCH_TERMS]
    return " ".join('"' + term.replace('"', "") + '"' for term in terms)


class CaptionStore:
    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise LogError(f"caption log {self.path} does not exist")
        if self.path.parent and not self.path.parent.exists():
            raise LogError(f"directory {self.path.parent} for the caption log does not exist")
        try:
            self._db = connect(self.path)
            self._db.execute("PRAGMA synchronous = FULL")
            self.version = migrate(self._db, self.path)
        except sqlite3.DatabaseError as exc:
            raise LogError(f"{self.path} is not a usable caption log: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- writes ----------------------------------------------------------------------------------

    def add_session(self, session: Session) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                session.id,
                session.room,
                session.started_unix,
                session.ended_unix,
                session.clock_origin,
                session.engine,
                session.mode,
            ),
        )

    def end_session(self, session_id: str, ended_unix: float) -> None:
        self._db.execute(
            "UPDATE sessions SET ended_unix = ? WHERE id = ?", (ended_unix, session_id)
        )

    def add_segment(self, segment: Segment) -> None:
        # An update, not a replacement, of a segment logged again: its corrections stay.
        self._db.execute(
            f"INSERT INTO segments ({SEGMENT_FIELDS}) VALUES "
            f"({', '.join('?' * len(row(segment)))}) ON CONFLICT (session_id, segment) DO UPDATE "
            f"SET {', '.join(f'{c} = excluded.{c}' for c in SEGMENT_FIELDS.split(', ')[2:])}",
            row(segment),
        )

    def add_speech(self, session_id: str, spans: Sequence[SpeechSpan]) -> None:
        self._db.executemany(
            'INSERT INTO speech (session_id, start, "end") VALUES (?, ?, ?)',
            [(session_id, s.start, s.end) for s in spans],
        )

    def add_flag(self, flag: Flag) -> None:
        self._db.execute(
            "INSERT INTO flags (session_id, segment, participant_id, participant_name, "
            "flagged_unix, reason) VALUES (?, ?, ?, ?, ?, ?)",
            row(flag),
        )

    def correct(self, correction: Correction) -> Result:
        """Apply a reviewer's correction, or record it as a conflict; committed on return."""
        with self.transaction() as db:
            return corrections.apply(db.execute, correction)

    def delete_session(self, session_id: str) -> bool:
        with self.transaction() as db:
            # The FTS index is external content: deleting rows one by one keeps it in step.
            # Their corrections go with them (ON DELETE CASCADE).
            db.execute("DELETE FROM segments WHERE session_id = ?", (session_id,))
            return db.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount > 0

    def purge(self, older_than_days: float, now: float | None = None) -> int:
        """Delete segments that ended more than `older_than_days` ago, and the ended sessions
        left with none. Returns the number of segments deleted."""
        cutoff = (time.time() if now is None else now) - older_than_days * 86400
        with self.transaction() as db:
            deleted = db.execute("DELETE FROM segments WHERE end_unix < ?", (cutoff,)).rowcount
            db.execute(
                "DELETE FROM sessions WHERE ended_unix IS NOT NULL AND ended_unix < ? AND NOT "
                "EXISTS (SELECT 1 FROM segments WHERE segments.session_id = sessions.id)",
                (cutoff,),
            )
        return deleted

    # --- reads -----------------------------------------------------------------------------------

    def sessions(
        self,
        *,
        room: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        where: list[str] = []
        args: list[str | float] = []
        if room is not None:
            where.append("room = ?")
            args.append(room)
        if since is not None:
            where.append("started_unix >= ?")
            args.append(since)
        if until is not None:
            where.append("started_unix < ?")
            args.append(until)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._db.execute(
            f"{SESSION_LIST} {clause} ORDER BY started_unix DESC LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ).fetchall()
        return [dict(row) for row in rows]

    def session(self, session_id: str) -> dict[str, Any]:
        row = self._db.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise NotFound(f"no session {session_id!r}")
        return dict(row)

    def segments(self, session_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute(corrections.SEGMENTS_OF_SESSION, (session_id,)).fetchall()
        return [corrections.presented(row) for row in rows]

    def corrections(self, session_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute(corrections.CORRECTIONS_OF_SESSION, (session_id,)).fetchall()
        return [dict(row) for row in rows]

    def speech(self, session_id: str) -> list[SpeechSpan]:
        rows = self._db.execute(
            'SELECT start, "end" FROM speech WHERE session_id = ? ORDER BY start', (session_id,)
        ).fetchall()
        return [SpeechSpan(row["start"], row["end"]) for row in rows]

    def flags(self, session_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT f.segment, f.participant_id, f.participant_name, f.flagged_unix, f.reason, "
            "g.text FROM flags f LEFT JOIN segments g ON g.session_id = f.session_id AND "
            "g.segment = f.segment WHERE f.session_id = ? ORDER BY f.flagged_unix",
            (session_id,),
        ).fetchall()
        return [dict(row) for row in rows]

    def search(
        self, text: str, *, room: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        query = fts_query(text)
        if not query:
            return []
        room_clause = "AND s.room = ?" if room is not None else ""
        args: list[Any] = [query]
        if room is not None:
            args.append(room)
        rows = self._db.execute(
            "SELECT g.session_id, s.room, g.segment, segments_fts.speaker_name, g.start, "
            "g.start_unix, segments_fts.text, "
            "snippet(segments_fts, 0, '[', ']', '…', 12) AS snippet "
            "FROM segments_fts JOIN segments g ON g.id = segments_fts.rowid "
            "JOIN sessions s ON s.id = g.session_id "
            f"WHERE segments_fts MATCH ? {room_clause} ORDER BY g.start_unix DESC LIMIT ?",
            [*args, limit],
        ).fetchall()
        return [dict(row) for row in rows]
