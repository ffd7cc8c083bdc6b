"""The quality report: latency, reading speed, gaps in captioned speech, flags."""

from captionlog.accuracy import reference_per_caption, word_errors
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


def test_a_reference_transcript_is_split_into_one_correction_per_caption() -> None:
    reference = "And so, my fellow Americans: ask not what your country can do for you."
    captions = ["And so my fellow", "Americans, asked not what you are", "can do for you."]
    shares = reference_per_caption(reference, captions)
    assert shares == [
        "And so, my fellow",
        "Americans: ask not what your country",
        "can do for you.",
    ]
    # As many errors, caption by caption, as over the whole text.
    errors = sum(word_errors(ref, hyp)[0] for ref, hyp in zip(shares, captions, strict=True))
    assert errors == word_errors(reference, " ".join(captions))[0] == 3
    # A word misheard goes to its caption, a word missed to the caption before, and a caption
    # of nothing said gets nothing.
    assert reference_per_caption("one two three", ["one", "uh", "three"]) == ["one", "two", "three"]
    assert reference_per_caption("one two three", ["one", "three"]) == ["one two", "three"]
    assert reference_per_caption("one three", ["one", "noise noise", "three"]) == [
        "one",
        "",
        "three",
    ]
    assert reference_per_caption("", ["a"]) == [""] and reference_per_caption("a", []) == []
