"""Reviewers' corrections of final captions, with an audit trail that is never rewritten.

A segment keeps the text and speaker it was captioned with; a correction sets its text (and
optionally its speaker's name) as the reviewer says they should be, and bumps the segment's
revision number (`rev`, 0 as captioned). A correction names the revision it was made against: when
another reviewer's correction landed first, it is refused as a conflict (HTTP 409) and nothing
changes. Every attempt, applied or refused, is a row of `corrections` — who (the reviewer's
identity from their token or single sign-on), when, the text and speaker before and after, an
optional note — so that a conflict loses nobody's work either: the refused text is in the history.
A correction with the text unchanged confirms the caption as right (a reviewed segment, counted
by the quality report's accuracy).

The SQL here runs on both stores as written (`?` placeholders; the PostgreSQL store converts
them): under SQLite the writer's `BEGIN IMMEDIATE` serialises corrections, under PostgreSQL the
compare-and-set `UPDATE … WHERE rev = ?` waits for a concurrent one and then finds the revision
moved on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from protocol.errors import ProtocolError
from protocol.fields import json_body
from protocol.text import clean_text

from .errors import BadQuery, NotFound

MAX_TEXT = 500  # characters of a corrected caption (the 2 x 42 rule is the captioner's concern)
MAX_SPEAKER = 64  # as a participant's name
MAX_NOTE = 500
MAX_REV = 2**31 - 1
FIELDS = ("text", "speaker", "note", "rev")

# A segment as reviewers see it now, and as it was captioned.
SEGMENT_COLUMNS = (
    'segment, speaker_id, start, "end", start_unix, end_unix, words, language, engine, latency, '
    "source, captioner, rev, coalesce(corrected_text, text) AS text, "
    "coalesce(corrected_speaker, speaker_name) AS speaker_name, "
    "text AS original_text, speaker_name AS original_speaker_name"
)
SEGMENTS_OF_SESSION = (
    f"SELECT {SEGMENT_COLUMNS} FROM segments WHERE session_id = ? ORDER BY start, id"
)
CORRECTIONS_OF_SESSION = (
    "SELECT segment, outcome, base_rev, rev, author, corrected_unix, text_before, text_after, "
    "speaker_before, speaker_after, note FROM corrections WHERE session_id = ? ORDER BY id"
)
_CURRENT = (
    "SELECT id, rev, coalesce(corrected_text, text) AS text, "
    "coalesce(corrected_speaker, speaker_name) AS speaker FROM segments "
    "WHERE session_id = ? AND segment = ?"
)
_UPDATE = (
    "UPDATE segments SET corrected_text = ?, corrected_speaker = coalesce(?, corrected_speaker), "
    "rev = rev + 1 WHERE id = ? AND rev = ?"
)
_RECORD = (
    "INSERT INTO corrections (segment_id, session_id, segment, outcome, base_rev, rev, author, "
    "corrected_unix, text_before, text_after, speaker_before, speaker_after, note) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class Outcome(StrEnum):
    APPLIED = "applied"
    CONFLICT = "conflict"  # made against a revision another correction had replaced: refused


@dataclass(frozen=True)
class Edit:
    """What a reviewer asks, as checked at the edge (`parse_edit`)."""

    text: str
    rev: int  # the revision the reviewer corrected
    speaker: str | None = None  # None: the speaker's name stays
    note: str = ""


@dataclass(frozen=True)
class Correction:
    session_id: str
    segment: str
    edit: Edit
    author: str  # the reviewer's identity
    at: float  # unix time


@dataclass(frozen=True)
class Result:
    """What became of a correction: the segment's revision, text and speaker now."""

    outcome: Outcome
    segment: str
    rev: int
    text: str
    speaker: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "segment": self.segment,
            "rev": self.rev,
            "text": self.text,
            "speaker": self.speaker,
        }


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


Run = Callable[[str, Sequence[Any]], Cursor]  # a store's execute, on qmark-style SQL


def parse_edit(body: bytes) -> Edit:
    """A PATCH body: a JSON object {"text", "speaker"?, "note"?, "rev"}; BadQuery says what is
    wrong with it."""
    try:
        f = json_body(body, FIELDS)
        rev = f.integer("rev", minimum=0)
        speaker = f.optional_string("speaker")
        edit = Edit(
            text=clean_text(f.string("text"), "text", max_chars=MAX_TEXT),
            rev=rev,
            speaker=None
            if speaker is None
            else clean_text(speaker, "speaker", max_chars=MAX_SPEAKER),
            note=clean_text(
                f.optional_string("note") or "", "note", max_chars=MAX_NOTE, multiline=True
            ),
        )
    except ProtocolError as exc:
        raise BadQuery(exc.message) from None
    if rev > MAX_REV:
        raise BadQuery(f"rev must be at most {MAX_REV}")
    if edit.speaker == "":
        raise BadQuery("speaker must not be blank (leave it out to keep the speaker's name)")
    return edit


def apply(run: Run, correction: Correction) -> Result:
    """Apply `correction` in the caller's transaction, or record it as a conflict; NotFound when
    the session has no such segment."""
    current = run(_CURRENT, (correction.session_id, correction.segment)).fetchone()
    if current is None:
        raise NotFound(f"no segment {correction.segment[:80]!r} in session {correction.session_id}")
    edit = correction.edit
    if current["rev"] == edit.rev:
        updated = run(_UPDATE, (edit.text, edit.speaker, current["id"], edit.rev))
        if updated.rowcount == 1:
            speaker = edit.speaker if edit.speaker is not None else current["speaker"]
            result = Result(Outcome.APPLIED, correction.segment, edit.rev + 1, edit.text, speaker)
            _record(run, correction, current, result)
            return result
        # Another correction committed between our read and our update (PostgreSQL).
        current = run(_CURRENT, (correction.session_id, correction.segment)).fetchone()
    result = Result(
        Outcome.CONFLICT, correction.segment, current["rev"], current["text"], current["speaker"]
    )
    _record(run, correction, current, result)
    return result


def _record(run: Run, correction: Correction, before: Any, result: Result) -> None:
    edit = correction.edit
    run(
        _RECORD,
        (
            before["id"],
            correction.session_id,
            correction.segment,
            result.outcome.value,
            edit.rev,
            result.rev,
            correction.author,
            correction.at,
            before["text"],
            edit.text,
            before["speaker"],
            edit.speaker if edit.speaker is not None else before["speaker"],
            edit.note,
        ),
    )


def presented(row: Any) -> dict[str, Any]:
    """A row of SEGMENTS_OF_SESSION as the API gives it: its words decoded, and whether a
    reviewer changed or confirmed it."""
    segment = dict(row) | {"words": json.loads(row["words"])}
    return segment | {"corrected": changed(segment), "reviewed": reviewed(segment)}


def reviewed(segment: dict[str, Any]) -> bool:
    """A reviewer corrected or confirmed it."""
    return int(segment.get("rev") or 0) > 0


def changed(segment: dict[str, Any]) -> bool:
    """Its text or speaker now differs from what was captioned."""
    return bool(
        segment["text"] != segment["original_text"]
        or segment["speaker_name"] != segment["original_speaker_name"]
    )


def as_captioned(segment: dict[str, Any]) -> dict[str, Any]:
    """The segment as it was captioned, before any correction (exports' `?original=1`)."""
    return segment | {
        "text": segment["original_text"],
        "speaker_name": segment["original_speaker_name"],
    }
