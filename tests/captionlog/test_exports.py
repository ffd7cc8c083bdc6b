"""Exports, parsed back by real parsers (webvtt-py, srt)."""

import html
import io
import json

import pytest
import srt
import webvtt

from captionlog.errors import BadQuery
from captionlog.exports import export, timestamp
from captionlog.store import CaptionStore


def session_and_segments(store: CaptionStore) -> tuple[dict, list[dict]]:
    return store.session("a" * 32), store.segments("a" * 32)


def test_webvtt_has_voice_tags_and_escapes_markup(store: CaptionStore) -> None:
    session, segments = session_and_segments(store)
    text = export("vtt", session, segments)
    captions = webvtt.from_buffer(io.StringIO(text))
    assert len(captions) == len(segments)
    assert [c.voice for c in captions] == ["Ada", "Ada", "Bob", None]
    assert captions[0].start == "00:00:01.000"
    # Escaped on the wire, as WebVTT requires; a player shows the original characters.
    assert "great <news> & more." in html.unescape(captions[2].text)
    assert "&lt;news&gt; &amp;" in text
    starts = [c.start for c in captions]
    assert starts == sorted(starts)


def test_srt_parses_with_speaker_prefixes(store: CaptionStore) -> None:
    session, segments = session_and_segments(store)
    subtitles = list(srt.parse(export("srt", session, segments)))
    assert len(subtitles) == 4
    assert subtitles[0].content == "Ada: Good morning everyone."
    assert subtitles[3].content == "Please book the large room."
    assert all(s.end > s.start for s in subtitles)


def test_text_and_json(store: CaptionStore) -> None:
    session, segments = session_and_segments(store)
    text = export("txt", session, segments)
    assert "[00:00:06] Bob: That is great <news> & more." in text
    data = json.loads(export("json", session, segments))
    assert data["session"]["room"] == "standup" and len(data["segments"]) == 4
    with pytest.raises(BadQuery, match="unknown export format"):
        export("docx", session, segments)


def test_a_cue_cannot_be_broken_by_its_text() -> None:
    session = {"id": "a" * 32, "room": "r"}
    segments = [
        {"start": 0.0, "end": 0.0, "text": "one\n\ntwo --> three", "speaker_name": "A<b>\nc"}
    ]
    [cue] = webvtt.from_buffer(io.StringIO(export("vtt", session, segments)))
    assert (cue.start, cue.end) == ("00:00:00.000", "00:00:00.500")  # long enough to read
    assert "-->" not in cue.text and "\n\n" not in cue.raw_text
    assert timestamp(3725.5) == "01:02:05.500"


def test_webvtt_carries_the_main_language_and_marks_cues_in_another() -> None:
    session = {"room": "salle", "id": "b" * 32}
    segments = [
        {
            "start": 1.0,
            "end": 2.0,
            "text": "Bonjour à tous.",
            "language": "fr",
            "speaker_name": "Ada",
        },
        {
            "start": 3.0,
            "end": 4.0,
            "text": "Good morning.",
            "language": "en",
            "speaker_name": "Bob",
        },
        {"start": 5.0, "end": 6.0, "text": "L\u2019ordre du jour est prêt.", "language": "fr"},
        {"start": 7.0, "end": 8.0, "text": "Merci.", "language": None},
    ]
    text = export("vtt", session, segments)
    assert text.startswith("WEBVTT\nLanguage: fr\n\n")
    captions = webvtt.from_buffer(io.StringIO(text))
    assert [c.text for c in captions] == [
        "Bonjour à tous.",
        "Good morning.",
        "L\u2019ordre du jour est prêt.",  # French typography is kept
        "Merci.",
    ]
    assert "<v Bob><lang en>Good morning.</lang></v>" in text
    assert text.count("<lang") == 1
    assert export("txt", session, segments).startswith(
        f"Room salle, session {'b' * 32}, language fr"
    )
    assert [s["language"] for s in json.loads(export("json", session, segments))["segments"]] == [
        "fr",
        "en",
        "fr",
        None,
    ]


def test_webvtt_without_languages_has_no_language_header() -> None:
    segments = [{"start": 1.0, "end": 2.0, "text": "Hello.", "language": None}]
    assert export("vtt", {"room": "r", "id": "c" * 32}, segments).startswith("WEBVTT\n\nNOTE")
