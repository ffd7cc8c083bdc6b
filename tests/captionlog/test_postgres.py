"""What is PostgreSQL's own in the caption log: accent-insensitive search, migrations shared by
nodes, a bad record isolated by its savepoint, clear errors."""

from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from captionlog.backends import log_target, open_store
from captionlog.errors import LogError
from captionlog.postgres import SCHEMA_VERSION, PostgresStore, redacted
from captionlog.records import Session

from ..servers import PostgresServer
from .conftest import T0, segment


@pytest.fixture
def url(postgres_server: PostgresServer) -> str:
    return postgres_server.new_database()


def test_migrations_apply_once_and_a_newer_schema_is_refused(url: str) -> None:
    first, second = PostgresStore(url), PostgresStore(url)  # two nodes starting
    assert first.version == second.version == SCHEMA_VERSION
    first.close()
    second.close()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("INSERT INTO livecaptions_schema VALUES (%s)", (SCHEMA_VERSION + 1,))
    with pytest.raises(LogError, match="newer than this server"):
        PostgresStore(url)


def test_unreachable_or_empty_databases_are_refused_clearly(
    postgres_server: PostgresServer, url: str
) -> None:
    closed = f"postgresql://postgres:secret@127.0.0.1:{postgres_server.port + 1}/x"
    with pytest.raises(LogError, match="unreachable") as error:
        PostgresStore(closed, connect_timeout=2)
    assert "secret" not in str(error.value)
    assert redacted(closed) == f"postgresql://postgres@127.0.0.1:{postgres_server.port + 1}/x"
    with pytest.raises(LogError, match="holds no caption log"):
        open_store(url, create=False)


def test_the_factory_chooses_by_scheme(tmp_path: Path, url: str) -> None:
    assert log_target(url) == url and log_target("x.db") == Path("x.db")
    store = open_store(log_target(str(tmp_path / "x.db")))
    assert type(store).__name__ == "CaptionStore"
    store.close()


def test_search_ignores_accents_both_ways(url: str) -> None:
    store = PostgresStore(url)
    with store.transaction():
        store.add_session(Session("d" * 32, "cafe", T0, T0, "test", "mixed"))
        store.add_segment(segment("d" * 32, 0, 1.0, "Le café de Zoë est prêt", "Renée"))
    assert [h["room"] for h in store.search("cafe zoe")] == ["cafe"]
    assert [h["room"] for h in store.search("CAFÉ PRET")] == ["cafe"]
    assert [h["speaker_name"] for h in store.search("renee")] == ["Renée"]
    assert "[café]" in store.search("cafe")[0]["snippet"]
    store.close()


def test_a_failing_record_does_not_roll_back_the_others(url: str) -> None:
    store = PostgresStore(url)
    good = segment("e" * 32, 0, 1.0, "kept words", "Ada")
    with store.transaction():
        store.add_session(Session("e" * 32, "room", T0, T0, "test", "mixed"))
        with pytest.raises(psycopg.Error):  # a segment of a session that does not exist
            store.add_segment(replace(good, session_id="f" * 32))
        store.add_segment(good)
    assert [s["text"] for s in store.segments("e" * 32)] == ["kept words"]
    store.close()
