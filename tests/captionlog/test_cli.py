"""`livecaptions-review` on a real database file."""

import io
import json
from pathlib import Path

import pytest
import webvtt

from captionlog.cli import main
from captionlog.corrections import Correction, Edit
from captionlog.store import CaptionStore


def run(store: CaptionStore, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["--db", str(getattr(store, "url", None) or store.path), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_list_show_search_quality(store: CaptionStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(store, capsys, "sessions", "--room", "standup")
    assert code == 0 and "aaaaaaaa  standup" in out and "4" in out
    code, out = run(store, capsys, "show", "aaaa")
    assert code == 0 and "[00:00:01] Ada: Good morning everyone." in out
    code, out = run(store, capsys, "search", "next", "year")
    assert code == 0 and "[next]" in out
    code, out = run(store, capsys, "quality", "aaaaaaaa")
    assert code == 0 and json.loads(out)["gaps"][0]["seconds"] == 4.0


def test_sessions_by_utc_day(store: CaptionStore, capsys: pytest.CaptureFixture[str]) -> None:
    _, out = run(store, capsys, "sessions", "--from", "2026-09-21", "--to", "2026-09-21")
    assert "standup" in out
    _, out = run(store, capsys, "sessions", "--from", "2026-09-22")
    assert "standup" not in out
    with pytest.raises(SystemExit) as exit_:
        run(store, capsys, "sessions", "--to", "2026-9-21")
    assert exit_.value.code == 2 and "not a date YYYY-MM-DD" in capsys.readouterr().err


def test_export_to_a_file(
    store: CaptionStore, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_file = tmp_path / "meeting.vtt"
    code, _ = run(store, capsys, "export", "aaaaaaaa", "--format", "vtt", "--out", str(out_file))
    assert code == 0
    assert len(webvtt.from_buffer(io.StringIO(out_file.read_text()))) == 4
    code, out = run(store, capsys, "export", "aaaaaaaa", "--format", "srt")
    assert code == 0 and out.startswith("1\n00:00:01,000 --> ")
    edit = Edit("The budget was approved.", 0)
    store.correct(Correction("a" * 32, "room#1-1", edit, "rita", 1_790_000_100.0))
    _, corrected = run(store, capsys, "export", "aaaaaaaa", "--format", "txt")
    _, original = run(store, capsys, "export", "aaaaaaaa", "--format", "txt", "--original")
    assert "The budget was approved." in corrected and "next year" not in corrected
    assert "The budget for next year is approved." in original
    _, report = run(store, capsys, "quality", "aaaaaaaa")
    assert json.loads(report)["corrections"][0]["author"] == "rita"


def test_clear_errors(store: CaptionStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(store, capsys, "show", "bbbb")
    assert code == 1 and "no session 'bbbb'" in out
    code, out = run(store, capsys, "show", "../etc")
    assert code == 1 and "not a session id" in out
    assert main(["--db", "/nonexistent/x.db", "sessions"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_delete_and_purge(store: CaptionStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(store, capsys, "purge", "--days", "36500")
    assert code == 0 and "purged 0 segments" in out
    code, out = run(store, capsys, "delete", "aaaaaaaa")
    assert code == 0 and store.sessions() == []
