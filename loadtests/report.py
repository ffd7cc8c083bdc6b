"""Summaries of a load-test run: exact percentiles from the events file, server resource samples,
and a plot of caption latency over time against the number of users."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# One line of the events file (locustfile.EventSink): t, kind, name, value, error, users, detail.
Event = dict[str, Any]


@dataclass(frozen=True)
class Sample:
    t: float
    cpu_percent: float  # of one core
    rss_bytes: int


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "count": 0}
    array = np.asarray(values, dtype=float)
    return {
        "p50": round(float(np.percentile(array, 50)), 3),
        "p95": round(float(np.percentile(array, 95)), 3),
        "p99": round(float(np.percentile(array, 99)), 3),
        "count": len(values),
    }


def read_events(path: Path) -> list[Event]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def per_node(events: list[Event]) -> dict[str, dict[str, Any]]:
    """Joins, caption latency and failures by the node each participant connected to."""
    nodes = sorted({e["detail"]["node"] for e in events if (e.get("detail") or {}).get("node")})
    report: dict[str, dict[str, Any]] = {}
    for node in nodes:
        mine = [e for e in events if (e.get("detail") or {}).get("node") == node]

        def values(kind: str, mine: list[Event] = mine) -> list[float]:
            return [e["value"] for e in mine if e["kind"] == kind and not e["error"]]

        report[node] = {
            "joins": percentiles(values("join")),
            "caption_latency_seconds": percentiles(values("caption_latency")),
            "failures": sum(1 for e in mine if e["kind"] == "failure" or e["error"]),
        }
    return report


def per_room(events: list[Event]) -> dict[str, Any]:
    """Final-caption latency room by room, and how far apart the rooms are: past capacity every
    room should be late alike (none starved); `p95_spread` is the worst room's p95 over the
    best's."""
    rooms: dict[str, list[float]] = {}
    for e in events:
        room = (e.get("detail") or {}).get("room")
        if e["kind"] == "caption_latency" and not e["error"] and room:
            rooms.setdefault(room, []).append(e["value"])
    report = {room: percentiles(values) for room, values in sorted(rooms.items())}
    p95s = [r["p95"] for r in report.values() if r["p95"] is not None]
    return {
        "count": len(report),
        "p95_best": min(p95s) if p95s else None,
        "p95_worst": max(p95s) if p95s else None,
        "p95_spread": round(max(p95s) / min(p95s), 2) if p95s and min(p95s) > 0 else None,
        "latency": report,
    }


def delivery(events: list[Event]) -> dict[str, Any]:
    """Forwarded packets the listeners received against what they expected (the sequence span
    of each source's section), over the run: loss on the listener side."""
    reports = [e["detail"] for e in events if e["kind"] == "delivery" and not e["error"]]
    received = sum(int(d["received"]) for d in reports)
    expected = sum(int(d["expected"]) for d in reports)
    ratios = [int(d["received"]) / int(d["expected"]) for d in reports if d["expected"]]
    return {
        "received": received,
        "expected": expected,
        "loss_percent": round(100 * (1 - received / expected), 3) if expected else None,
        "worst_listener_source_percent": round(100 * min(ratios), 2) if ratios else None,
        "pairs": len(reports),
    }


def summarize(
    events: list[Event], samples: list[Sample], *, users: int, seconds: float
) -> dict[str, Any]:
    def values(kind: str) -> list[float]:
        return [e["value"] for e in events if e["kind"] == kind and not e["error"]]

    failures: dict[str, int] = {}
    for e in events:
        if e["kind"] == "failure" or e["error"]:
            failures[e["name"]] = failures.get(e["name"], 0) + 1
    wer = values("wer")
    cpu = [s.cpu_percent for s in samples]
    return {
        "users": users,
        "seconds": seconds,
        "joins": percentiles(values("join")),
        "first_caption_seconds": percentiles(values("first_caption")),
        "caption_latency_seconds": percentiles(values("caption_latency")),
        "wer": {
            "median": round(float(np.median(wer)), 3) if wer else None,
            "mean": round(float(np.mean(wer)), 3) if wer else None,
            "turns": len(wer),
        },
        "failures": failures,
        "forwarded_packets": delivery(events),
        "rooms": per_room(events),
        "server": {
            "cpu_percent_median": round(float(np.median(cpu)), 1) if cpu else None,
            "cpu_percent_max": round(max(cpu), 1) if cpu else None,
            "rss_mb_max": round(max(s.rss_bytes for s in samples) / 2**20, 1) if samples else None,
        },
    }


def plot(events: list[Event], path: Path) -> None:
    """Caption latency of each final caption over time, and the number of users."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    captions = [e for e in events if e["kind"] == "caption_latency" and not e["error"]]
    start = min((e["t"] for e in events), default=0.0)
    fig, left = plt.subplots(figsize=(9, 4.5), dpi=110)
    left.scatter(
        [e["t"] - start for e in captions],
        [e["value"] for e in captions],
        s=8,
        color="tab:blue",
        label="final caption latency",
    )
    left.set_xlabel("seconds since start")
    left.set_ylabel("caption latency (s)", color="tab:blue")
    left.axhline(2.0, color="tab:red", linewidth=0.8, linestyle="--", label="2 s")
    right = left.twinx()
    timeline = sorted((e["t"] - start, e["users"]) for e in events)
    right.step(
        [t for t, _ in timeline],
        [u for _, u in timeline],
        where="post",
        color="tab:gray",
        label="users",
    )
    right.set_ylabel("users", color="tab:gray")
    right.set_ylim(bottom=0)
    locator = right.yaxis.get_major_locator()
    if isinstance(locator, MaxNLocator):  # a linear axis's default AutoLocator is one
        locator.set_params(integer=True)
    left.set_ylim(bottom=0)
    left.set_title("Caption latency under load")
    left.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
