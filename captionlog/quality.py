"""A session's caption quality, for accessibility reviewers (pure).

- Latency at emission (end of the segment's audio → caption sent), p50/p95/max, and over time.
- Reading speed against subtitle guidance: 160-180 words per minute (BBC), at most 17 characters
  per second, at most 2 lines of 42 characters.
- Gaps: stretches where some participant's track carried speech but no caption covers it.
- Captions participants flagged as wrong.
- Accuracy from reviewers' work: the word error rate of the automatic captions against the text
  reviewers corrected or confirmed (over those segments only, per session and per speaker), and
  the list of corrections.
- Uncertain words: those the engine gave a confidence below `LOW_CONFIDENCE`.

Human captioners' lines count for coverage, reading speed and lines; latency and accuracy are the
automatic captions' (a line's latency from the captioner's keypress is not known to the server).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from captioner.lines import fits
from protocol.captions import LOW_CONFIDENCE

from .accuracy import word_errors
from .corrections import reviewed
from .exports import MIN_CUE_SECONDS
from .records import SpeechSpan

GUIDANCE_WPM = (160, 180)
MAX_CPS = 17.0
SPEECH_JOIN_SECONDS = 0.3  # speech spans closer than this are one stretch of speech
COVER_MARGIN_SECONDS = 0.5  # a caption covers its words' audio plus this on each side
MIN_GAP_SECONDS = 1.5  # shorter uncovered speech is a word or two: not reported


def _duration(segment: dict[str, Any]) -> float:
    return max(float(segment["end"]) - float(segment["start"]), MIN_CUE_SECONDS)


def _words(segment: dict[str, Any]) -> int:
    return len(segment["text"].split())


def _percentiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    array = np.asarray(values, dtype=float)
    return {
        "p50": round(float(np.quantile(array, 0.5)), 3),
        "p95": round(float(np.quantile(array, 0.95)), 3),
        "max": round(float(array.max()), 3),
    }


def _wpm(segments: Sequence[dict[str, Any]]) -> float | None:
    minutes = sum(_duration(s) for s in segments) / 60
    return round(sum(_words(s) for s in segments) / minutes, 1) if minutes else None


def merge(spans: Sequence[SpeechSpan], join: float) -> list[SpeechSpan]:
    merged: list[SpeechSpan] = []
    for span in sorted(spans, key=lambda s: s.start):
        if merged and span.start - merged[-1].end <= join:
            merged[-1] = SpeechSpan(merged[-1].start, max(merged[-1].end, span.end))
        else:
            merged.append(span)
    return merged


def gaps(
    speech: Sequence[SpeechSpan], segments: Sequence[dict[str, Any]]
) -> list[dict[str, float]]:
    """Speech no caption covers, in stretches of at least MIN_GAP_SECONDS."""
    covers = merge(
        [
            SpeechSpan(s["start"] - COVER_MARGIN_SECONDS, s["end"] + COVER_MARGIN_SECONDS)
            for s in segments
            if s["text"].strip()
        ],
        0.0,
    )
    found = []
    for span in merge(speech, SPEECH_JOIN_SECONDS):
        position = span.start
        for cover in covers:
            if cover.end <= position or cover.start >= span.end:
                continue
            if cover.start > position:
                found.append((position, cover.start))
            position = max(position, cover.end)
        if position < span.end:
            found.append((position, span.end))
    return [
        {"start": round(a, 2), "end": round(b, 2), "seconds": round(b - a, 2)}
        for a, b in found
        if b - a >= MIN_GAP_SECONDS
    ]


def _speaker(segment: dict[str, Any]) -> str:
    return segment.get("speaker_name") or "(unknown)"


def _accuracy_of(segments: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """WER of the captioned text against the reviewed text, summed over `segments`."""
    errors = words = 0
    for segment in segments:
        wrong, count = word_errors(segment["text"], segment["original_text"])
        errors, words = errors + wrong, words + count
    # A reference of no words (every caption corrected to nothing) has no rate.
    wer = round(errors / words, 4) if words else (None if not errors else 1.0)
    return {"reviewed": len(segments), "words": words, "errors": errors, "wer": wer}


def accuracy(segments: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The automatic captions' accuracy measured by reviewers: over the segments they corrected
    or confirmed, how many word errors the live text had against theirs."""
    automatic = [s for s in segments if s.get("source", "automatic") == "automatic"]
    checked = [s for s in automatic if reviewed(s)]
    speakers: dict[str, list[dict[str, Any]]] = {}
    for segment in checked:
        speakers.setdefault(_speaker(segment), []).append(segment)
    return {
        "segments": len(automatic),
        "changed": sum(1 for s in checked if s["text"] != s["original_text"]),
        "speaker_changed": sum(
            1 for s in checked if s["speaker_name"] != s["original_speaker_name"]
        ),
        **_accuracy_of(checked),
        "per_speaker": {name: _accuracy_of(group) for name, group in sorted(speakers.items())},
    }


def uncertain(segments: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Words the engine was unsure of, as captioned."""
    scored = [w for s in segments for w in s.get("words", ()) if w.get("confidence") is not None]
    low = [s for s in segments if any(_low(w) for w in s.get("words", ()))]
    return {
        "threshold": LOW_CONFIDENCE,
        "words_scored": len(scored),
        "words": sum(1 for w in scored if _low(w)),
        "segments": len(low),
    }


def _low(word: dict[str, Any]) -> bool:
    confidence = word.get("confidence")
    return confidence is not None and confidence < LOW_CONFIDENCE


def report(
    session: dict[str, Any],
    segments: Sequence[dict[str, Any]],
    speech: Sequence[SpeechSpan],
    flags: Sequence[dict[str, Any]],
    corrections: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    human = [s for s in segments if s.get("source") == "human"]
    timed = [s for s in segments if s.get("latency") is not None and s.get("source") != "human"]
    points = [[round(s["start"], 2), round(s["latency"], 3)] for s in timed]
    cps = [len(s["text"]) / _duration(s) for s in segments]
    speakers: dict[str, list[dict[str, Any]]] = {}
    for segment in segments:
        speakers.setdefault(_speaker(segment), []).append(segment)
    wpm = _wpm(segments)
    found = gaps(speech, segments)
    speech_seconds = sum(s.end - s.start for s in merge(speech, SPEECH_JOIN_SECONDS))
    return {
        "session": session["id"],
        "room": session["room"],
        "segments": len(segments),
        "words": sum(_words(s) for s in segments),
        "latency": _percentiles([s["latency"] for s in timed]) | {"points": points},
        "reading_speed": {
            "wpm": wpm,
            "guidance_wpm": list(GUIDANCE_WPM),
            "above_guidance": wpm is not None and wpm > GUIDANCE_WPM[1],
            "per_speaker_wpm": {name: _wpm(group) for name, group in sorted(speakers.items())},
            "cps": _percentiles(cps),
            "max_cps_guidance": MAX_CPS,
            "segments_above_cps": sum(1 for value in cps if value > MAX_CPS),
        },
        "lines": {"segments_over_2x42": sum(1 for s in segments if not fits(s["text"]))},
        "speech_seconds": round(speech_seconds, 1),
        "gaps": found,
        "gap_seconds": round(sum(g["seconds"] for g in found), 1),
        "flags": list(flags),
        "human": {"segments": len(human)},
        "accuracy": accuracy(segments),
        "corrections": list(corrections),
        "uncertain": uncertain(segments),
    }
