"""Reviewers' corrections on both stores: revisions, conflicts, history, exports, search,
deletion and retention, and the accuracy the quality report measures from them."""

import json
import sqlite3
import threading
from pathlib import Path

import psycopg
import pytest

from captionlog import exports, quality
from captionlog.backends import Store, open_store
from captionlog.corrections import Correction, Edit, Outcome, parse_edit
from captionlog.errors import BadQuery, NotFound
from captionlog.records import Session

from ..servers import PostgresServer
from .conftest import SCRIPT, T0, segment

SESSION = "a" * 32
BUDGET = "room#1-1"  # "The budget for next year is approved." (Ada)


def correct(
    store: Store, text: str, rev: int, *, who: str = "rita", seg: str = BUDGET, **edit: str
) -> Outcome:
    correction = Correction(SESSION, seg, Edit(text, rev, **edit), who, T0 + 100)
    return store.correct(correction).outcome


def test_two_reviewers_one_wins_the_other_gets_a_conflict_and_both_are_in_the_history(
    store: Store,
) -> None:
    assert correct(store, "The budget for next year was approved.", 0, note="tense") is (
        Outcome.APPLIED
    )
    late = Correction(SESSION, BUDGET, Edit("The budget of next year.", 0), "sam", T0 + 101)
    conflict = store.correct(late)
    assert conflict.outcome is Outcome.CONFLICT
    assert (conflict.rev, conflict.text) == (1, "The budget for next year was approved.")
    by_segment = {s["segment"]: s for s in store.segments(SESSION)}
    budget = by_segment[BUDGET]
    assert budget["text"] == "The budget for next year was approved."
    assert budget["original_text"] == "The budget for next year is approved."
    assert (budget["rev"], budget["corrected"], budget["reviewed"]) == (1, True, True)
    assert by_segment["room#1-0"]["rev"] == 0 and not by_segment["room#1-0"]["corrected"]
    history = store.corrections(SESSION)
    assert [(h["author"], h["outcome"], h["base_rev"], h["rev"]) for h in history] == [
        ("rita", "applied", 0, 1),
        ("sam", "conflict", 0, 1),
    ]
    assert history[0]["text_before"] == "The budget for next year is approved."
    assert history[0]["note"] == "tense"
    assert history[1]["text_after"] == "The budget of next year."  # the refused work is kept
    # The loser corrects again against what it now sees.
    assert correct(store, "The budget for next year was approved!", 1, who="sam") is (
        Outcome.APPLIED
    )
    assert store.sessions()[0]["reviewed"] == 1


def test_concurrent_corrections_from_two_connections_apply_exactly_once(
    store_target: str | Path, store: Store
) -> None:
    """Two reviewers' requests at the same moment, each on its own connection (as the server
    runs them): one applies, the other is a conflict, whatever the timing."""
    start = threading.Barrier(2)
    outcomes: list[Outcome] = []

    def reviewer(name: str) -> None:
        own = open_store(store_target, create=False)
        try:
            start.wait()
            outcomes.append(correct(own, f"corrected by {name}", 0, who=name))
        finally:
            own.close()

    threads = [threading.Thread(target=reviewer, args=(name,)) for name in ("rita", "sam")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [Outcome.APPLIED, Outcome.CONFLICT]
    [winner] = [h for h in store.corrections(SESSION) if h["outcome"] == "applied"]
    assert store.segments(SESSION)[1]["text"] == winner["text_after"]


def test_the_speaker_is_corrected_and_search_finds_the_corrected_text(store: Store) -> None:
    assert correct(store, "That is great news.", 0, seg="room#1-2", speaker="Carol") is (
        Outcome.APPLIED
    )
    corrected = store.segments(SESSION)[2]
    assert (corrected["speaker_name"], corrected["original_speaker_name"]) == ("Carol", "Bob")
    assert corrected["speaker_id"] == "p-bob"  # who the server heard stays recorded
    [hit] = store.search("great news")
    assert hit["text"] == "That is great news." and hit["speaker_name"] == "Carol"
    assert store.search("Carol")
    assert store.search("more") == []  # the text as captioned is no longer what is searched


def test_exports_give_the_corrected_text_and_the_original_on_request(store: Store) -> None:
    correct(store, "The budget for next year was approved.", 0)
    correct(store, "", 0, seg="room#1-3", note="nobody said this")  # a caption that should not be
    session, segments = store.session(SESSION), store.segments(SESSION)
    history = store.corrections(SESSION)
    vtt = exports.export("vtt", session, segments, corrections=history)
    assert "was approved" in vtt and "is approved" not in vtt
    assert "large room" not in vtt and vtt.count("-->") == 3
    original = exports.export("srt", session, segments, original=True)
    assert "is approved" in original and "was approved" not in original
    assert "large room" in original
    body = json.loads(exports.export("json", session, segments, corrections=history))
    assert [c["note"] for c in body["corrections"]] == ["", "nobody said this"]
    assert body["segments"][1]["original_text"] == "The budget for next year is approved."
    assert len(body["segments"]) == 4


def test_deleting_a_session_deletes_its_history_and_retention_purges_it(store: Store) -> None:
    correct(store, "Good morning, everyone.", 0, seg="room#1-0")
    with store.transaction():
        store.add_session(Session("b" * 32, "other", T0, T0, "test", "mixed", T0 + 20))
        store.add_segment(segment("b" * 32, 0, 1.0, "kept for now", "Ada"))
    store.correct(Correction("b" * 32, "room#1-0", Edit("kept", 0), "rita", T0 + 30))
    assert store.delete_session(SESSION)
    assert store.corrections(SESSION) == []
    assert len(store.corrections("b" * 32)) == 1
    store.purge(1, now=T0 + 2 * 86400)
    assert store.corrections("b" * 32) == []


def test_a_segment_logged_again_keeps_its_correction(store: Store) -> None:
    correct(store, "The budget was approved.", 0)
    start, text, speaker = SCRIPT[1]
    with store.transaction():
        store.add_segment(segment(SESSION, 1, start, text, speaker))
    again = store.segments(SESSION)[1]
    assert (again["text"], again["rev"]) == ("The budget was approved.", 1)


def test_a_correction_of_what_does_not_exist_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="no segment"):
        correct(store, "text", 0, seg="room#1-99")
    assert store.corrections(SESSION) == []


def test_the_quality_report_measures_accuracy_from_known_corrections(store: Store) -> None:
    # Ada's two segments reviewed: one word wrong of 7 ("is" → "was"), 3 right (confirmed).
    # Bob's: "That is great <news> & more." → "That is great news." ("more" inserted: 1 error of
    # 4 words; "&" is no word), and the speaker was Carol. The fourth segment is not reviewed:
    # it does not count.
    correct(store, "The budget for next year was approved.", 0)
    correct(store, "Good morning everyone.", 0, seg="room#1-0")
    correct(store, "That is great news.", 0, seg="room#1-2", speaker="Carol")
    segments = store.segments(SESSION)
    report = quality.report(
        store.session(SESSION), segments, store.speech(SESSION), [], store.corrections(SESSION)
    )
    accuracy = report["accuracy"]
    assert (accuracy["segments"], accuracy["reviewed"], accuracy["changed"]) == (4, 3, 2)
    assert accuracy["speaker_changed"] == 1
    assert (accuracy["errors"], accuracy["words"]) == (2, 14)
    assert accuracy["wer"] == round(2 / 14, 4)
    assert accuracy["per_speaker"] == {
        "Ada": {"reviewed": 2, "words": 10, "errors": 1, "wer": 0.1},
        "Carol": {"reviewed": 1, "words": 4, "errors": 1, "wer": 0.25},
    }
    assert [c["segment"] for c in report["corrections"]] == [BUDGET, "room#1-0", "room#1-2"]


def test_an_edit_from_outside_is_checked_with_a_precise_error() -> None:
    assert parse_edit(b'{"text": " two  words\\n", "rev": 3, "note": "a\\n b"}') == Edit(
        "two words", 3, None, "a\nb"
    )
    for body, message in [
        (b"\xff", "not UTF-8"),
        (b"[1]", "JSON object"),
        (b'{"text": "x"', "not JSON"),
        (b'{"text": "x"}', "missing field 'rev'"),
        (b'{"text": "x", "rev": -1}', ">= 0"),
        (b'{"text": "x", "rev": true}', "integer"),
        (b'{"text": "x", "rev": 9999999999}', "at most"),
        (b'{"text": "\\ud800", "rev": 0}', "not valid Unicode"),
        (b'{"text": "a\\u0007b", "rev": 0}', "control character"),
        (b'{"text": "' + b"x" * 501 + b'", "rev": 0}', "longer than 500"),
        (b'{"text": "x", "rev": 0, "speaker": " "}', "blank"),
        (b'{"text": "x", "rev": 0, "who": "me"}', "unknown field 'who'"),
        (b"[" * 40 + b"]" * 40, "deeper"),
    ]:
        with pytest.raises(BadQuery, match=message):
            parse_edit(body)


def test_a_log_of_the_previous_schema_keeps_its_captions_and_takes_corrections(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    from captionlog import postgres, store

    path = tmp_path / "old.db"
    raw = sqlite3.connect(path, isolation_level=None)
    raw.executescript("".join(store.MIGRATIONS[:2]) + "PRAGMA user_version = 2;")
    url = postgres_server.new_database()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE TABLE livecaptions_schema (version INTEGER)")
        db.execute(postgres.MIGRATIONS[0])
        db.execute("INSERT INTO livecaptions_schema VALUES (1)")
    for old, placeholder in ((raw, "?"), (psycopg.connect(url, autocommit=True), "%s")):
        old.execute(
            f"INSERT INTO sessions VALUES ({', '.join([placeholder] * 7)})",
            (SESSION, "salle", T0, None, T0, "whisper", "mixed"),
        )
        old.execute(
            'INSERT INTO segments (session_id, segment, start, "end", start_unix, end_unix, text, '
            f"words, language, engine) VALUES ({', '.join([placeholder] * 10)})",
            (SESSION, BUDGET, 0, 1, T0, T0 + 1, "the bugdet", "[]", "en", "whisper"),
        )
        old.close()
    for target in (path, url):
        migrated = open_store(target)
        try:
            [kept] = migrated.segments(SESSION)
            assert (kept["text"], kept["rev"], kept["source"]) == ("the bugdet", 0, "automatic")
            assert correct(migrated, "the budget", 0) is Outcome.APPLIED
            assert [h["text"] for h in migrated.search("budget")] == ["the budget"]
        finally:
            migrated.close()
