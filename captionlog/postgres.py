"""The caption log in PostgreSQL, shared by every node of a cluster (`--log-db postgresql://…`).

The same records and reads as the SQLite store (`store.CaptionStore`), on PostgreSQL's own
machinery: versioned migrations in a table (serialised by an advisory lock, so nodes starting
together migrate once), full-text search with a text-search configuration that folds accents
(`unaccent`, then `simple`: words as written, no stemming, like SQLite's FTS5 with diacritics
removed), cascading deletion. One connection per store, used by one thread at a time.

Durability: a record is acknowledged when its transaction commits; PostgreSQL's default
`synchronous_commit = on` has flushed the WAL by then, so it survives `kill -9` of the node and
of the database. Each write runs in a savepoint of the writer's transaction, so a record that
fails leaves the transaction usable for the others (PostgreSQL aborts a whole transaction at the
first error otherwise).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from . import corrections
from .corrections import Correction, Cursor, Result
from .errors import LogError, NotFound
from .records import SEGMENT_FIELDS, Flag, Segment, Session, SpeechSpan, row
from .store import MAX_SEARCH_TERMS, SEARCH_TERM, SESSION_LIST

SCHEMES = ("postgresql://", "postgres://")
MIGRATION_LOCK = 0x6C697665  # pg_advisory_xact_lock key: "live"

MIGRATIONS: tuple[str, ...] = (
    # 1: the SQLite schema's tables, a tsvector column for search.
    """
    CREATE EXTENSION IF NOT EXISTS unaccent;
    CREATE TEXT SEARCH CONFIGURATION livecaptions (COPY = simple);
    ALTER TEXT SEARCH CONFIGURATION livecaptions
        ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple;
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        room TEXT NOT NULL,
        started_unix DOUBLE PRECISION NOT NULL,
        ended_unix DOUBLE PRECISION,
        clock_origin DOUBLE PRECISION NOT NULL,
        engine TEXT NOT NULL,
        mode TEXT NOT NULL
    );
    CREATE INDEX sessions_by_room ON sessions (room, started_unix);
    CREATE INDEX sessions_by_start ON sessions (started_unix);
    CREATE TABLE segments (
        id BIGSERIAL PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        segment TEXT NOT NULL,
        speaker_id TEXT,
        speaker_name TEXT,
        start DOUBLE PRECISION NOT NULL,
        "end" DOUBLE PRECISION NOT NULL,
        start_unix DOUBLE PRECISION NOT NULL,
        end_unix DOUBLE PRECISION NOT NULL,
        text TEXT NOT NULL,
        words TEXT NOT NULL,
        language TEXT,
        engine TEXT NOT NULL,
        latency DOUBLE PRECISION,
        search TSVECTOR GENERATED ALWAYS AS (
            to_tsvector('livecaptions', text || ' ' || coalesce(speaker_name, ''))
        ) STORED,
        UNIQUE (session_id, segment)
    );
    CREATE INDEX segments_by_session ON segments (session_id, start);
    CREATE INDEX segments_by_end ON segments (end_unix);
    CREATE INDEX segments_search ON segments USING GIN (search);
    CREATE TABLE speech (
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        start DOUBLE PRECISION NOT NULL,
        "end" DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX speech_by_session ON speech (session_id, start);
    CREATE TABLE flags (
        id BIGSERIAL PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        segment TEXT NOT NULL,
        participant_id TEXT NOT NULL,
        participant_name TEXT NOT NULL,
        flagged_unix DOUBLE PRECISION NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE INDEX flags_by_session ON flags (session_id);
    """,
    # 2: reviewers' corrections and human captioners' lines, as SQLite's schema 3; search reads
    # the text as corrected.
    """
    ALTER TABLE segments ADD COLUMN source TEXT NOT NULL DEFAULT 'automatic',
        ADD COLUMN captioner TEXT,
        ADD COLUMN rev INTEGER NOT NULL DEFAULT 0,
        ADD COLUMN corrected_text TEXT,
        ADD COLUMN corrected_speaker TEXT;
    DROP INDEX segments_search;
    ALTER TABLE segments DROP COLUMN search;
    ALTER TABLE segments ADD COLUMN search TSVECTOR GENERATED ALWAYS AS (
        to_tsvector('livecaptions', coalesce(corrected_text, text) || ' ' ||
                    coalesce(corrected_speaker, speaker_name, ''))
    ) STORED;
    CREATE INDEX segments_search ON segments USING GIN (search);
    CREATE TABLE corrections (
        id BIGSERIAL PRIMARY KEY,
        segment_id BIGINT NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
        session_id TEXT NOT NULL,
        segment TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('applied', 'conflict')),
        base_rev INTEGER NOT NULL,
        rev INTEGER NOT NULL,
        author TEXT NOT NULL,
        corrected_unix DOUBLE PRECISION NOT NULL,
        text_before TEXT NOT NULL,
        text_after TEXT NOT NULL,
        speaker_before TEXT,
        speaker_after TEXT,
        note TEXT NOT NULL
    );
    CREATE INDEX corrections_by_session ON corrections (session_id, id);
    CREATE INDEX corrections_by_segment ON corrections (segment_id);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def is_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(SCHEMES)


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}://{credentials.split(':', 1)[0]}{at}{host}" if at else url


def search_terms(text: str) -> str:
    """A user's search text as plain words for `plainto_tsquery`: never PostgreSQL's query
    syntax, no NUL (which PostgreSQL text cannot hold)."""
    return " ".join(SEARCH_TERM.findall(text.replace("\x00", " "))[:MAX_SEARCH_TERMS])


class PostgresStore:
    def __init__(self, url: str, *, create: bool = True, connect_timeout: float = 10.0) -> None:
        try:
            import psycopg
            from psycopg.rows import dict_row
        except ImportError as exc:
            missing = (exc.name or "psycopg").split(".")[0]
            raise LogError(
                f"a postgresql:// caption log needs {missing!r}, which is not installed: run "
                "scripts/bootstrap.sh cluster (or pip install -e '.[cluster]')"
            ) from exc

        self.url = url
        self.location = redacted(url)
        try:
            self._db = psycopg.connect(
                url, autocommit=True, row_factory=dict_row, connect_timeout=round(connect_timeout)
            )
        except psycopg.Error as exc:
            raise LogError(f"caption log {self.location} is unreachable: {exc}") from exc
        try:
            self.version = self._migrate() if create else self._check_version()
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def _current_version(self) -> int:
        self._db.execute("CREATE TABLE IF NOT EXISTS livecaptions_schema (version INTEGER)")
        row = self._db.execute("SELECT max(version) AS v FROM livecaptions_schema").fetchone()
        return int(row["v"] or 0) if row else 0

    def _check_version(self) -> int:
        version = self._current_version()
        if version > SCHEMA_VERSION:
            raise LogError(
                f"{self.location} has caption-log schema version {version}, newer than this "
                f"server's {SCHEMA_VERSION}: upgrade the server, or point --log-db elsewhere"
            )
        if version < SCHEMA_VERSION:
            raise LogError(f"{self.location} holds no caption log (start a server on it first)")
        return version

    def _migrate(self) -> int:
        import psycopg

        with self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            version = self._current_version()
            if version > SCHEMA_VERSION:
                return self._check_version()
            for number in range(version, SCHEMA_VERSION):
                try:
                    with self._db.transaction():
                        self._db.execute(MIGRATIONS[number])
                        self._db.execute(
                            "INSERT INTO livecaptions_schema VALUES (%s)", (number + 1,)
                        )
                except psycopg.Error as exc:
                    raise LogError(
                        f"{self.location}: migration to schema version {number + 1} failed: {exc}"
                    ) from exc
        return SCHEMA_VERSION

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self._db.transaction():
            yield self._db

    # --- writes (each in a savepoint inside the writer's transaction) ----------------------------

    def _write(self, sql: str, args: Sequence[Any]) -> int:
        with self._db.transaction():
            return self._db.execute(sql, args).rowcount

    def add_session(self, session: Session) -> None:
        self._write(
            "INSERT INTO sessions VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
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
        self._write("UPDATE sessions SET ended_unix = %s WHERE id = %s", (ended_unix, session_id))

    def add_segment(self, segment: Segment) -> None:
        values = row(segment)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in SEGMENT_FIELDS.split(", ")[2:])
        self._write(
            f"INSERT INTO segments ({SEGMENT_FIELDS}) VALUES ({', '.join(['%s'] * len(values))}) "
            f"ON CONFLICT (session_id, segment) DO UPDATE SET {updates}",
            values,
        )

    def add_speech(self, session_id: str, spans: Sequence[SpeechSpan]) -> None:
        with self._db.transaction(), self._db.cursor() as cursor:
            cursor.executemany(
                'INSERT INTO speech (session_id, start, "end") VALUES (%s, %s, %s)',
                [(session_id, s.start, s.end) for s in spans],
            )

    def add_flag(self, flag: Flag) -> None:
        self._write(
            "INSERT INTO flags (session_id, segment, participant_id, participant_name, "
            "flagged_unix, reason) VALUES (%s, %s, %s, %s, %s, %s)",
            row(flag),
        )

    def _run(self, sql: str, args: Sequence[Any]) -> Cursor:
        """Shared SQL (qmark placeholders, captionlog.corrections) on this connection."""
        return self._db.execute(sql.replace("?", "%s"), args)

    def correct(self, correction: Correction) -> Result:
        """Apply a reviewer's correction, or record it as a conflict; committed on return."""
        with self._db.transaction():
            return corrections.apply(self._run, correction)

    def delete_session(self, session_id: str) -> bool:
        # Segments, speech, flags and corrections go with it (ON DELETE CASCADE), search index
        # included.
        return self._write("DELETE FROM sessions WHERE id = %s", (session_id,)) > 0

    def purge(self, older_than_days: float, now: float | None = None) -> int:
        """Delete segments that ended more than `older_than_days` ago, and the ended sessions
        left with none. Returns the number of segments deleted."""
        cutoff = (time.time() if now is None else now) - older_than_days * 86400
        with self._db.transaction():
            deleted = self._db.execute(
                "DELETE FROM segments WHERE end_unix < %s", (cutoff,)
            ).rowcount
            self._db.execute(
                "DELETE FROM sessions WHERE ended_unix IS NOT NULL AND ended_unix < %s AND NOT "
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
        where, args = [], []
        for clause, value in (
            ("room = %s", room),
            ("started_unix >= %s", since),
            ("started_unix < %s", until),
        ):
            if value is not None:
                where.append(clause)
                args.append(value)
        condition = f"WHERE {' AND '.join(where)}" if where else ""
        return self._db.execute(
            f"{SESSION_LIST} {condition} ORDER BY started_unix DESC LIMIT %s OFFSET %s",
            [*args, limit, offset],
        ).fetchall()

    def session(self, session_id: str) -> dict[str, Any]:
        row = self._db.execute("SELECT * FROM sessions WHERE id = %s", (session_id,)).fetchone()
        if row is None:
            raise NotFound(f"no session {session_id!r}")
        return row

    def segments(self, session_id: str) -> list[dict[str, Any]]:
        rows = self._run(corrections.SEGMENTS_OF_SESSION, (session_id,))
        return [corrections.presented(row) for row in rows.fetchall()]

    def corrections(self, session_id: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._run(
            corrections.CORRECTIONS_OF_SESSION, (session_id,)
        ).fetchall()
        return rows

    def speech(self, session_id: str) -> list[SpeechSpan]:
        rows = self._db.execute(
            'SELECT start, "end" FROM speech WHERE session_id = %s ORDER BY start', (session_id,)
        ).fetchall()
        return [SpeechSpan(row["start"], row["end"]) for row in rows]

    def flags(self, session_id: str) -> list[dict[str, Any]]:
        return self._db.execute(
            "SELECT f.segment, f.participant_id, f.participant_name, f.flagged_unix, f.reason, "
            "g.text FROM flags f LEFT JOIN segments g ON g.session_id = f.session_id AND "
            "g.segment = f.segment WHERE f.session_id = %s ORDER BY f.flagged_unix",
            (session_id,),
        ).fetchall()

    def search(
        self, text: str, *, room: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        terms = search_terms(text)
        if not terms:
            return []
        room_clause = "AND s.room = %(room)s" if room is not None else ""
        return self._db.execute(
            "WITH q AS (SELECT plainto_tsquery('livecaptions', %(terms)s) AS query), "
            "g AS (SELECT session_id, segment, start, start_unix, search, "
            "coalesce(corrected_text, text) AS text, "
            "coalesce(corrected_speaker, speaker_name) AS speaker_name FROM segments) "
            "SELECT g.session_id, s.room, g.segment, g.speaker_name, g.start, g.start_unix, "
            "g.text, ts_headline('livecaptions', g.text, q.query, "
            "'StartSel=[, StopSel=], MaxWords=12, MinWords=4, HighlightAll=false') AS snippet "
            "FROM q, g JOIN sessions s ON s.id = g.session_id "
            f"WHERE g.search @@ q.query {room_clause} ORDER BY g.start_unix DESC LIMIT %(limit)s",
            {"terms": terms, "room": room, "limit": limit},
        ).fetchall()
