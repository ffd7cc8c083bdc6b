"""The writer thread: one record that cannot be written never costs another its place."""

from dataclasses import replace
from pathlib import Path

from captionlog.log import CaptionLog, LogConfig
from captionlog.records import Flag, Session
from captionlog.store import CaptionStore

from .conftest import T0, segment


def test_a_bad_record_is_rejected_alone_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "captions.db"
    log = CaptionLog(LogConfig(path=path))
    log.start()
    try:
        victim, attacker = "v" * 32, "e" * 32
        # Queued together so that the writer takes them as one batch.
        log.session_started(Session(victim, "victim", T0, T0, "test", "mixed"))
        log.session_started(Session(attacker, "evil", T0, T0, "test", "mixed"))
        log.segment(segment(victim, 0, 1.0, "first victim caption", "Ada"))
        log.flag(Flag(attacker, "evil#1-0", "p-eve", "Eve", T0, "bad \ud800 reason"))
        log.segment(replace(segment(attacker, 1, 2.0, "x", "Eve"), speaker_name="Eve\udfff"))
        log.segment(segment(victim, 2, 3.0, "second victim caption", "Ada"))
        assert log.flush(30)
    finally:
        log.stop()
    assert log.rejected == 2
    assert log.acknowledged == 4
    store = CaptionStore(path, create=False)
    try:
        texts = [s["text"] for s in store.segments(victim)]
        assert texts == ["first victim caption", "second victim caption"]
        assert store.flags(attacker) == []
    finally:
        store.close()


def test_a_good_batch_is_one_transaction(tmp_path: Path) -> None:
    log = CaptionLog(LogConfig(path=tmp_path / "captions.db"))
    log.start()
    try:
        log.session_started(Session("a" * 32, "room", T0, T0, "test", "mixed"))
        for n in range(5):
            log.segment(segment("a" * 32, n, float(n), f"caption {n}", "Ada"))
        assert log.flush(30)
    finally:
        log.stop()
    assert (log.acknowledged, log.rejected, log.failures) == (6, 0, 0)
