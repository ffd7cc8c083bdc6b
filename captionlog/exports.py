"""A session's captions as WebVTT (with `<v Speaker>` voice tags and the language), SRT, plain
text and JSON (each segment with its language). SRT has no place for a language.

Pure functions of the session and its segments (as the store returns them). Times are on the room
clock, which starts with the session: a recording of the meeting started with it lines up. The
text is as reviewers corrected it (a caption corrected to nothing is left out), or as it was
captioned with `original`; the JSON export carries both and the corrections' history.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from captioner.lines import break_lines

from .corrections import as_captioned
from .errors import BadQuery

LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")  # what may go in a <lang> span
MIN_CUE_SECONDS = 0.5  # a cue shorter than this cannot be read; engines can give 0-length words

FORMATS: dict[str, tuple[str, str]] = {  # format → (extension, content type)
    "vtt": ("vtt", "text/vtt; charset=utf-8"),
    "srt": ("srt", "application/x-subrip; charset=utf-8"),
    "txt": ("txt", "text/plain; charset=utf-8"),
    "json": ("json", "application/json"),
}


def timestamp(seconds: float, separator: str = ".") -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _span(segment: dict[str, Any]) -> tuple[float, float]:
    start = max(0.0, float(segment["start"]))
    return start, max(float(segment["end"]), start + MIN_CUE_SECONDS)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _one_line(text: str) -> str:
    # A cue ends at a blank line and "-->" starts a timing line: neither may appear in a cue.
    return " ".join(text.split()).replace("-->", "\u2192")


def main_language(segments: Sequence[dict[str, Any]]) -> str | None:
    """The language most segments are in (the first of them on a tie); None when none says."""
    languages: list[str] = [s["language"] for s in segments if s.get("language")]
    counts = Counter(languages)
    if not counts:
        return None
    most = max(counts.values())
    return next(language for language in languages if counts[language] == most)


def to_webvtt(session: dict[str, Any], segments: Sequence[dict[str, Any]]) -> str:
    """WebVTT with the session's main language in a `Language:` header (as HLS and YouTube
    write it) and each cue in another language wrapped in a `<lang>` span (WebVTT §4.2.2)."""
    language = main_language(segments)
    header = ["WEBVTT", *([f"Language: {language}"] if language else [])]
    out = [*header, "", "NOTE", _vtt_escape(f"room {session['room']}, session {session['id']}")]
    for number, segment in enumerate(segments, 1):
        start, end = _span(segment)
        lines = [_vtt_escape(line) for line in break_lines(_one_line(segment["text"]))]
        own = segment.get("language")
        if own and own != language and LANGUAGE_TAG.fullmatch(own):
            lines[0] = f"<lang {own}>{lines[0]}"
            lines[-1] = f"{lines[-1]}</lang>"
        name = segment.get("speaker_name")
        if name:
            lines[0] = f"<v {_vtt_escape(_one_line(name))}>{lines[0]}"
            lines[-1] = f"{lines[-1]}</v>"
        out += ["", str(number), f"{timestamp(start)} --> {timestamp(end)}", *lines]
    return "\n".join(out) + "\n"


def to_srt(session: dict[str, Any], segments: Sequence[dict[str, Any]]) -> str:
    blocks = []
    for number, segment in enumerate(segments, 1):
        start, end = _span(segment)
        text = _one_line(segment["text"])
        name = segment.get("speaker_name")
        if name:
            text = f"{_one_line(name)}: {text}"
        blocks.append(
            "\n".join(
                [
                    str(number),
                    f"{timestamp(start, ',')} --> {timestamp(end, ',')}",
                    *break_lines(text),
                ]
            )
        )
    return "\n\n".join(blocks) + "\n"


def _who(segment: dict[str, Any]) -> str:
    if segment.get("speaker_name"):
        return str(segment["speaker_name"])
    if segment.get("source") == "human":
        name = segment.get("captioner")
        return f"(captioner {name})" if name else "(captioner)"
    return "(unknown speaker)"


def to_text(session: dict[str, Any], segments: Sequence[dict[str, Any]]) -> str:
    language = main_language(segments)
    title = f"Room {session['room']}, session {session['id']}"
    lines = [f"{title}, language {language}" if language else title, ""]
    for segment in segments:
        name = _who(segment)
        lines.append(f"[{timestamp(segment['start'])[:8]}] {name}: {_one_line(segment['text'])}")
    return "\n".join(lines) + "\n"


def to_json(
    session: dict[str, Any],
    segments: Sequence[dict[str, Any]],
    corrections: Sequence[dict[str, Any]] = (),
) -> str:
    body = {"session": session, "segments": list(segments), "corrections": list(corrections)}
    return json.dumps(body, ensure_ascii=False)


EXPORTERS: dict[str, Callable[[dict[str, Any], Sequence[dict[str, Any]]], str]] = {
    "vtt": to_webvtt,
    "srt": to_srt,
    "txt": to_text,
}


def export(
    format: str,
    session: dict[str, Any],
    segments: Sequence[dict[str, Any]],
    *,
    corrections: Sequence[dict[str, Any]] = (),
    original: bool = False,
) -> str:
    """`segments` in `format`: as corrected, or as captioned (`original`). The JSON export has
    every segment with both texts and the corrections' history."""
    if original:
        segments = [as_captioned(s) for s in segments]
    if format == "json":
        return to_json(session, segments, corrections)
    exporter = EXPORTERS.get(format)
    if exporter is None:
        raise BadQuery(f"unknown export format {format!r}; one of {', '.join(FORMATS)}")
    return exporter(session, [s for s in segments if s["text"].strip()])
