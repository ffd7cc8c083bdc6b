"""A short headless locust run against a server the run starts: captions arrive, latency events
are recorded, nothing fails, and every output is written."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_short_headless_run(tmp_path: Path) -> None:
    out = tmp_path / "load"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "loadtests" / "run.py"),
            "--users",
            "4",
            "--spawn-rate",
            "2",
            "--duration",
            "20",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failures"] == {}
    assert summary["joins"]["count"] == 4
    assert summary["first_caption_seconds"]["count"] == 4
    assert summary["caption_latency_seconds"]["count"] >= 4  # two rooms, each final to both
    assert 0 < summary["caption_latency_seconds"]["p50"] < 5
    assert summary["server"]["cpu_percent_max"] > 0
    forwarded = summary["forwarded_packets"]  # the two lightweight listeners counted
    assert forwarded["pairs"] == 2 and forwarded["expected"] > 0
    assert forwarded["loss_percent"] < 1.0
    for name in ("locust_stats.csv", "locust_stats_history.csv", "locust.html", "latency.png"):
        assert (out / name).stat().st_size > 0, name
    stats = (out / "locust_stats.csv").read_text()
    assert "final caption" in stats and "join" in stats
