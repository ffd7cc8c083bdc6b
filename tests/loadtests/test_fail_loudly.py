"""`loadtests/run.py` fails loudly (issue 22): a clips file naming a missing audio file stops the
run before anything starts, with one line saying what to fix; a run where nobody joined is a
failure with one line pointing at locust.log, never an empty summary and exit 0."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.scenario import ClipsError, check_clips

ROOT = Path(__file__).resolve().parent.parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "loadtests" / "run.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_missing_audio_file_is_named_with_what_to_do(tmp_path: Path) -> None:
    clips = tmp_path / "clips.json"
    clips.write_text(json.dumps([{"speak": "hello"}, {"audio": "gone.flac", "text": "x"}]))
    with pytest.raises(ClipsError, match=r"clip 2: audio file .*gone\.flac does not exist: fix"):
        check_clips(str(clips))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot be read"),
        ("{not json", "is not JSON"),
        ("[]", "non-empty JSON list"),
        ('[{"audio": "a.wav"}]', 'clip 1: give {"audio": path, "text": reference}'),
    ],
)
def test_unusable_clips_files_say_why(tmp_path: Path, content: str | None, message: str) -> None:
    clips = tmp_path / "clips.json"
    if content is not None:
        clips.write_text(content)
    with pytest.raises(ClipsError, match=message.replace("{", r"\{").replace("}", r"\}")):
        check_clips(str(clips))


def test_the_shipped_clips_files_are_usable() -> None:
    for clips in (ROOT / "loadtests").glob("clips*.json"):
        assert check_clips(str(clips))


def test_run_stops_before_starting_anything_on_a_bad_clips_file(tmp_path: Path) -> None:
    clips = tmp_path / "clips.json"
    clips.write_text(json.dumps([{"audio": "missing.wav", "text": "hello"}]))
    out = tmp_path / "out"
    result = run("--clips", str(clips), "--out", str(out))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "missing.wav does not exist" in lines[0], result.stderr
    assert not out.exists()  # no server, no locust, no summary


def test_a_run_where_nobody_joined_fails(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # Nothing listens on port 1: every join fails, the summary is empty.
    result = run(
        "--url", "ws://127.0.0.1:1/ws", "--users", "1", "--duration", "2", "--out", str(out)
    )
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last == f"run.py: no participant joined: see {out}/locust.log"
    assert json.loads((out / "summary.json").read_text())["joins"]["count"] == 0
