"""`livecaptions` start-up: a bad engine configuration fails at once, with a clear message."""

import json
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
