"""The SQLite store: migrations, writes, full-text search, deletion, retention."""

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from captionlog.errors import LogError, NotFound
from captionlog.records import Session
from captionlog.store import MIGRATIONS, SCHEMA_VERSION, CaptionStore, fts_query

from .conftest import T0, segment


def test_a_new_file_is_migrated_to_the_current_schema_in_wal_mode(tmp_path: Path) -> None:
    store = CaptionStore(tmp_path / "new.db")
    assert store.version == SCHEMA_VERSION
    store.close()
    raw = sqlite3.connect(tmp_path / "new.db")
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    # Opening again applies nothing twice.
    CaptionStore(tmp_path / "new.db").close()


def test_files_it_cannot_use_are_refused_clearly(tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    sqlite3.connect(newer).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(LogError, match="newer than this server"):
        CaptionStore(newer)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LogError, match="not a usable caption log"):
        CaptionStore(garbage)
    with pytest.raises(LogError, match="does not exist"):
        CaptionStore(tmp_path / "missing" / "x.db")


def test_a_session_reads_back_in_order_with_words_and_flags(store: CaptionStore) -> None:
    [listed] = store.sessions(room="standup")
    assert listed["segments"] == 4 and listed["flags"] == 1
    segments = store.segments("a" * 32)
    assert [s["text"] for s in segments][:2] == [
        "Good morning everyone.",
        "The budget for next year is approved.",
    ]
    assert segments[0]["words"][0] == {"text": "Good", "start": 1.0, "end": 1.3}
    [flag] = store.flags("a" * 32)
    assert flag["reason"] == "wrong year" and flag["text"].startswith("The budget")
    assert store.sessions(room="other") == []
    assert store.sessions(since=T0 + 1) == []
    with pytest.raises(NotFound):
        store.session("b" * 32)


@pytest.mark.parametrize(
    "hostile",
    [
        '"',
        'budget"',
        "NEAR(budget approved)",
        "text:budget",
        "budget*",
        "') OR 1=1 --",
        "\x00budget",
        "budget " * 500,
        "^budget",
        "budget AND OR NOT",
    ],
)
def test_search_treats_any_text_as_plain_words(store: CaptionStore, hostile: str) -> None:
    hits = store.search(hostile)
    assert all("budget" in h["text"].lower() for h in hits)


def test_search_finds_words_across_sessions_with_a_snippet(store: CaptionStore) -> None:
    [hit] = store.search("next YEAR")
    assert hit["segment"] == "room#1-1" and hit["room"] == "standup"
    assert "[next]" in hit["snippet"] and "[year]" in hit["snippet"]
    # Speaker names are indexed too.
    assert {h["speaker_name"] for h in store.search("Bob")} == {"Bob"}
    assert store.search("   ") == []
    assert fts_query('a "b" c*') == '"a" "b" "c"'


def test_deleting_a_session_removes_it_from_search_too(store: CaptionStore) -> None:
    assert store.delete_session("a" * 32)
    assert store.search("budget") == []
    assert store.sessions() == []
    assert not store.delete_session("a" * 32)


def test_retention_purges_old_segments_and_emptied_sessions(store: CaptionStore) -> None:
    with store.transaction():
        later = T0 + 86400 * 10
        store.add_session(Session("c" * 32, "later", later, later, "t", "mixed"))
        recent = segment("c" * 32, 0, 1.0, "recent words", "Ada")
        store.add_segment(replace(recent, start_unix=later, end_unix=later + 1))
    # "now" is 12 days after T0: the first meeting is older than 5 days, its segments go.
    deleted = store.purge(5, now=T0 + 86400 * 12)
    assert deleted == 4
    assert [s["id"] for s in store.sessions()] == ["c" * 32]
    assert store.search("budget") == []


def test_search_ignores_accents_and_keeps_the_language(store: CaptionStore) -> None:
    french = segment("a" * 32, 9, 20.0, "Le garçon a mangé des crêpes à la gare.", "Ada")
    store.add_segment(replace(french, language="fr"))
    [hit] = store.search("crepes garcon")
    assert hit["text"] == "Le garçon a mangé des crêpes à la gare."
    assert [h["text"] for h in store.search("CRÊPES")] == [hit["text"]]
    languages = {s["segment"]: s["language"] for s in store.segments("a" * 32)}
    assert languages["room#1-9"] == "fr" and languages["room#1-0"] == "en"


def test_a_version_1_file_is_reindexed_for_accent_insensitive_search(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    raw = sqlite3.connect(path, isolation_level=None)
    raw.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
    raw.execute(
        "INSERT INTO sessions VALUES ('s1', 'salle', ?, NULL, ?, 'whisper-base', 'mixed')", (T0, T0)
    )
    raw.execute(
        'INSERT INTO segments (session_id, segment, start, "end", start_unix, end_unix, text, '
        "words, language, engine) VALUES ('s1', 'g1', 0, 1, ?, ?, ?, '[]', 'fr', 'whisper-base')",
        (T0, T0 + 1, "Des crêpes à Hà Nội, au Việt Nam"),
    )
    # Version 1 folded letters with one accent only (unicode61's remove_diacritics 1).
    unaccented = "SELECT count(*) FROM segments_fts WHERE segments_fts MATCH 'viet'"
    assert raw.execute(unaccented).fetchone()[0] == 0
    raw.close()
    store = CaptionStore(path)
    try:
        assert store.version == SCHEMA_VERSION
        hits = [h["text"] for h in store.search("crepes a ha noi viet")]
        assert hits == ["Des crêpes à Hà Nội, au Việt Nam"]
    finally:
        store.close()
