import json
from pathlib import Path

import numpy as np

from loadtests.report import Sample, per_node, percentiles, summarize
from loadtests.scenario import Clip, Scenario, load_clips


def test_rooms_fill_in_order_with_speakers_first() -> None:
    scenario = Scenario(
        url="ws://x", clips=(Clip(np.zeros(1, np.float32), "a"),), room_size=3, speakers_per_room=1
    )
    roles = [scenario.role(i) for i in range(7)]
    assert roles == [
        ("load-0", True),
        ("load-0", False),
        ("load-0", False),
        ("load-1", True),
        ("load-1", False),
        ("load-1", False),
        ("load-2", True),
    ]


def test_percentiles_and_empty() -> None:
    assert percentiles([1.0, 2.0, 3.0, 4.0]) == {"p50": 2.5, "p95": 3.85, "p99": 3.97, "count": 4}
    assert percentiles([])["p50"] is None


def test_summary_counts_failures_and_resources() -> None:
    events = [
        {"kind": "join", "name": "join", "value": 0.05, "error": None},
        {"kind": "failure", "name": "join", "value": 1.0, "error": "refused"},
        {"kind": "caption_latency", "name": "final caption", "value": 0.6, "error": None},
        {"kind": "wer", "name": "wer", "value": 0.1, "error": None},
        {"kind": "wer", "name": "wer", "value": 0.3, "error": None},
    ]
    samples = [Sample(0.0, 50.0, 100 * 2**20), Sample(1.0, 150.0, 200 * 2**20)]
    summary = summarize(events, samples, users=2, seconds=10)
    assert summary["failures"] == {"join": 1}
    assert summary["joins"]["count"] == 1
    assert summary["caption_latency_seconds"]["p50"] == 0.6
    assert summary["wer"] == {"median": 0.2, "mean": 0.2, "turns": 2}
    assert summary["server"] == {
        "cpu_percent_median": 100.0,
        "cpu_percent_max": 150.0,
        "rss_mb_max": 200.0,
    }


def test_users_are_spread_over_the_nodes_and_reported_per_node() -> None:
    scenario = Scenario(url="ws://a/ws, ws://b/ws", clips=(Clip(np.zeros(1, np.float32), "a"),))
    # Rooms of two: each room has one participant through each node, first joins alternate.
    assert [scenario.url_of(i) for i in range(4)] == [
        "ws://a/ws",
        "ws://b/ws",
        "ws://b/ws",
        "ws://a/ws",
    ]
    events = [
        {"kind": "join", "value": 0.1, "error": None, "detail": {"node": "ws://a/ws"}},
        {"kind": "join", "value": 0.3, "error": None, "detail": {"node": "ws://b/ws"}},
        {"kind": "caption_latency", "value": 0.9, "error": None, "detail": {"node": "ws://b/ws"}},
        {"kind": "failure", "value": 0.0, "error": "x", "detail": {"node": "ws://b/ws"}},
        {"kind": "wer", "value": 0.1, "error": None, "detail": None},
    ]
    nodes = per_node(events)
    assert set(nodes) == {"ws://a/ws", "ws://b/ws"}
    assert nodes["ws://a/ws"]["joins"]["count"] == 1 and nodes["ws://a/ws"]["failures"] == 0
    assert nodes["ws://b/ws"]["caption_latency_seconds"]["p50"] == 0.9
    assert nodes["ws://b/ws"]["failures"] == 1


def test_clips_are_files_or_french_spoken_by_espeak(tmp_path: Path) -> None:
    """A clip file mixes recordings and synthesised speech; a clip's language is what every
    participant of its rooms asks for."""
    spec = tmp_path / "clips.json"
    jfk = Path(__file__).resolve().parent.parent / "data" / "jfk.flac"
    spec.write_text(
        json.dumps(
            [
                {"speak": "Bonjour à tous.", "voice": "fr", "language": "fr"},
                {"audio": str(jfk), "text": "ask not"},
            ]
        )
    )
    french, english = load_clips(str(spec))
    assert (french.text, french.language) == ("Bonjour à tous.", "fr")
    assert len(french.pcm) > 0.5 * 48_000 and english.language is None
    scenario = Scenario(url="ws://x", clips=(french, english), room_size=3)
    # A room takes its first participant's clip: room 0 French, room 1 English.
    assert [scenario.language_of(i) for i in range(6)] == ["fr", "fr", "fr", None, None, None]


def test_delivery_sums_what_the_listeners_received_against_expected() -> None:
    def report(received: int, expected: int) -> dict[str, object]:
        detail = {"source": "p-1", "received": received, "expected": expected}
        return {
            "kind": "delivery",
            "name": "forwarded packets",
            "value": 0,
            "error": None,
            "detail": detail,
        }

    summary = summarize([report(990, 1000), report(500, 500)], [], users=3, seconds=10)
    assert summary["forwarded_packets"] == {
        "received": 1490,
        "expected": 1500,
        "loss_percent": 0.667,
        "worst_listener_source_percent": 99.0,
        "pairs": 2,
    }
    assert summarize([], [], users=0, seconds=1)["forwarded_packets"]["loss_percent"] is None
