"""What the caption log keeps, as values."""

from __future__ import annotations

import json
from dataclasses import astuple, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Session:
    """A room from its first participant to the last one leaving."""

    id: str
    room: str
    started_unix: float
    clock_origin: float  # unix time of the room clock's zero
    engine: str
    mode: str
    ended_unix: float | None = None


@dataclass(frozen=True)
class Segment:
    """One final caption segment."""

    session_id: str
    segment: str
    speaker_id: str | None
    speaker_name: str | None
    start: float  # room clock
    end: float
    start_unix: float
    end_unix: float
    text: str
    words: list[dict[str, Any]]
    language: str | None
    engine: str
    latency: float | None  # seconds from the end of its audio to its sending
    source: str = "automatic"  # or "human": a captioner's line (protocol.human.CaptionSource)
    captioner: str | None = None  # a human line's captioner, by name


# The columns of `segments` that a Segment fills, in its fields' order.
SEGMENT_FIELDS = (
    'session_id, segment, speaker_id, speaker_name, start, "end", start_unix, end_unix, text, '
    "words, language, engine, latency, source, captioner"
)


@dataclass(frozen=True)
class SpeechSpan:
    """A stretch of the room clock where some participant's track carried speech."""

    start: float
    end: float


@dataclass(frozen=True)
class Flag:
    """A participant marked a caption as wrong."""

    session_id: str
    segment: str
    participant_id: str
    participant_name: str
    flagged_unix: float
    reason: str


def row(record: Segment | Flag) -> tuple[Any, ...]:
    """A segment's or a flag's values in field order, as both stores insert them (the fields are
    the columns, in order): a segment's words as JSON text."""
    return tuple(
        json.dumps(value) if field.name == "words" else value
        for field, value in zip(fields(record), astuple(record), strict=True)
    )
