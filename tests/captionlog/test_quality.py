"""The quality report: latency, reading speed, gaps in captioned speech, flags."""

from captionlog.quality import gaps, report
from captionlog.records import SpeechSpan
from captionlog.store import CaptionStore


def test_report_of_a_session(store: CaptionStore) -> None:
    session = store.session("a" * 32)
    segments = store.segments("a" * 32)
    result = report(session, segments, store.speech("a" * 32), store.flags("a" * 32))
    assert result["segments"] == 4 and result["words"] == 21
    assert result["latency"]["p50"] == 0.65 and result["latency"]["max"] == 0.8
    assert len(result["latency"]["points"]) == 4
    # 21 words over 6.3 s of captions: 200 wpm, above the 160-180 guidance.
    assert result["reading_speed"]["wpm"] == 200.0
    assert result["reading_speed"]["above_guidance"]
    assert set(result["reading_speed"]["per_speaker_wpm"]) == {"Ada", "Bob", "(unknown)"}
    # Speech at 12-16 s has no caption: one gap of 4 s. 1-5 s and 6-8 s are covered.
    assert result["gaps"] == [{"start": 12.0, "end": 16.0, "seconds": 4.0}]
    assert [f["reason"] for f in result["flags"]] == ["wrong year"]


def test_gaps_ignore_short_uncovered_speech_and_join_close_spans() -> None:
    segments = [{"start": 0.0, "end": 2.0, "text": "hello there"}]
    speech = [SpeechSpan(0.0, 2.0), SpeechSpan(2.6, 3.2), SpeechSpan(3.3, 5.0)]
    # Covered to 2.5 s; 2.6-5.0 joins into one uncovered stretch of 2.4 s.
    assert gaps(speech, segments) == [{"start": 2.6, "end": 5.0, "seconds": 2.4}]
    assert gaps([SpeechSpan(10.0, 11.0)], segments) == []  # 1 s: too short to report
