from collections.abc import Iterator
from pathlib import Path

import pytest

from captionlog.backends import Store, open_store
from captionlog.records import Flag, Segment, Session, SpeechSpan
from captionlog.store import CaptionStore

from ..servers import PostgresServer

T0 = 1_790_000_000.0  # 2026-09-21, unix


def segment(session: str, n: int, start: float, text: str, speaker: str | None) -> Segment:
    words = text.split()
    step = 0.3
    return Segment(
        session_id=session,
        segment=f"room#1-{n}",
        speaker_id=f"p-{speaker.lower()}" if speaker else None,
        speaker_name=speaker,
        start=start,
        end=start + step * len(words),
        start_unix=T0 + start,
        end_unix=T0 + start + step * len(words),
        text=text,
        words=[
            {"text": w, "start": start + i * step, "end": start + (i + 1) * step}
            for i, w in enumerate(words)
        ],
        language="en",
        engine="test",
        latency=0.5 + 0.1 * n,
    )


SCRIPT = [
    (1.0, "Good morning everyone.", "Ada"),
    (3.0, "The budget for next year is approved.", "Ada"),
    (6.0, "That is great <news> & more.", "Bob"),
    (9.0, "Please book the large room.", None),
]


def seed(store: Store) -> None:
    """One meeting: four segments, speech spans (one without captions), a flag."""
    with store.transaction():
        store.add_session(Session("a" * 32, "standup", T0, T0, "test", "mixed", T0 + 20))
        for n, (start, text, speaker) in enumerate(SCRIPT):
            store.add_segment(segment("a" * 32, n, start, text, speaker))
        store.add_speech("a" * 32, [SpeechSpan(1.0, 5.0), SpeechSpan(6.0, 8.0), SpeechSpan(12, 16)])
        store.add_flag(Flag("a" * 32, "room#1-1", "p-bob", "Bob", T0 + 5, "wrong year"))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where an empty caption log lives: an SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "captions.db"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()


@pytest.fixture
def store(store_target: str | Path) -> Iterator[Store]:
    """A real database (each backend in turn) with one meeting in it."""
    store = open_store(store_target)
    seed(store)
    yield store
    store.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[CaptionStore]:
    """SQLite only, for what is SQLite's own (the file, WAL)."""
    store = CaptionStore(tmp_path / "captions.db")
    seed(store)
    yield store
    store.close()
