"""Text from outside, checked before anything else sees it: Unicode and JSON nesting.

A JSON escape can carry a lone surrogate (`"\\ud800"`): Python decodes it into a `str` that cannot
be encoded as UTF-8, so the first broadcast, log write or file that meets it fails — for everyone
who shares that socket, transaction or file. And a deeply nested document (`[[[[…]]]]`) costs a
recursion per level in every parser and serializer after ours. Both are refused here, at the edge.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import ErrorCode, ProtocolError

MAX_JSON_DEPTH = 16  # our deepest message (a caption's words) nests 3 levels
_TOKEN = re.compile(r'\\.|["\[\]{}]', re.DOTALL)


def is_valid_unicode(value: str) -> bool:
    """True when `value` has no lone surrogate, i.e. can be written as UTF-8 (RFC 3629 §3)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_unicode(value: str, what: str, ref: str | None = None) -> str:
    """`value`, or a `bad-request` naming `what` when it is not proper Unicode."""
    if not is_valid_unicode(value):
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"{what} is not valid Unicode (a lone surrogate)", ref
        )
    return value


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in the JSON `text` (brackets in strings skipped).

    One pass over the tokens that matter (escapes, quotes, brackets): linear, whatever the input."""
    depth = deepest = 0
    in_string = False
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token == '"':
            in_string = not in_string
        elif in_string or token[0] == "\\":
            continue
        elif token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def check_json_depth(text: str, ref: str | None = None) -> None:
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return  # too few brackets to nest too deep: the common case costs two C-speed counts
    if json_depth(text) > MAX_JSON_DEPTH:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"JSON nests deeper than {MAX_JSON_DEPTH} levels", ref
        )


_WHITESPACE_RUN = re.compile(r"\s+")
_LINE_SPACE_RUN = re.compile(r"[^\S\n]+")


def clean_text(value: str, what: str, *, max_chars: int, multiline: bool = False) -> str:
    """Text a person typed (a correction, a captioner's line, a note), as it is kept: proper
    Unicode, no control character, runs of white space as one space (line breaks kept where
    `multiline`), trimmed, at most `max_chars` characters. `bad-request` naming `what` else."""
    if len(value) > 4 * max_chars:  # bound the work before looking at every character
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{what} is longer than {max_chars} characters")
    check_unicode(value, what)
    if multiline:
        value = "\n".join(_LINE_SPACE_RUN.sub(" ", line).strip() for line in value.splitlines())
        value = value.strip("\n")
    else:
        value = _WHITESPACE_RUN.sub(" ", value).strip()
    control = next((c for c in value if c != "\n" and unicodedata.category(c) == "Cc"), None)
    if control is not None:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"{what} holds a control character (U+{ord(control):04X})"
        )
    if len(value) > max_chars:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{what} is longer than {max_chars} characters")
    return value
