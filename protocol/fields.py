"""Typed field readers for JSON objects: each failure is a precise `bad-request`."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from .errors import ErrorCode, ProtocolError
from .text import check_json_depth, is_valid_unicode

_MISSING = object()

_Message_co = TypeVar("_Message_co", covariant=True)


class MessageClass(Protocol[_Message_co]):
    """A message class as a parser's registry holds it: builds its message from a frame's fields."""

    def from_fields(self, f: Fields, /) -> _Message_co: ...


class Fields:
    """Reads typed fields out of one decoded JSON object, naming the message type in errors."""

    def __init__(self, obj: dict[str, Any], ref: str | None) -> None:
        self._obj = obj
        self.ref = ref

    def has(self, key: str) -> bool:
        """True when the field is present and not null."""
        return self._obj.get(key) is not None

    def contains(self, key: str) -> bool:
        """True when the field is present, null included."""
        return key in self._obj

    def fail(self, message: str) -> ProtocolError:
        return ProtocolError(ErrorCode.BAD_REQUEST, message, self.ref)

    def _get(self, key: str, default: Any) -> Any:
        value = self._obj.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise self.fail(f"missing field {key!r}")
            return default
        return value

    def string(
        self,
        key: str,
        *,
        min_len: int = 0,
        max_len: int | None = None,
        pattern: re.Pattern[str] | None = None,
    ) -> str:
        value = self._get(key, _MISSING)
        if not isinstance(value, str):
            raise self.fail(f"field {key!r} must be a string")
        if not is_valid_unicode(value):
            raise self.fail(f"field {key!r} is not valid Unicode (a lone surrogate)")
        if len(value) < min_len:
            raise self.fail(f"field {key!r} must have at least {min_len} characters")
        if max_len is not None and len(value) > max_len:
            raise self.fail(f"field {key!r} must have at most {max_len} characters")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(f"field {key!r} must match {pattern.pattern}")
        return value

    def optional_string(
        self,
        key: str,
        *,
        min_len: int = 0,
        max_len: int | None = None,
        pattern: re.Pattern[str] | None = None,
    ) -> str | None:
        if self._obj.get(key) is None:
            return None
        return self.string(key, min_len=min_len, max_len=max_len, pattern=pattern)

    def boolean(self, key: str, *, default: Any = _MISSING) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"field {key!r} must be a boolean")
        return value

    def integer(self, key: str, *, minimum: int | None = None) -> int:
        value = self._get(key, _MISSING)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(f"field {key!r} must be an integer")
        if minimum is not None and value < minimum:
            raise self.fail(f"field {key!r} must be >= {minimum}")
        return value

    def number(self, key: str, *, default: Any = _MISSING) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"field {key!r} must be a number")
        if not math.isfinite(value):
            raise self.fail(f"field {key!r} must be finite")
        return float(value)

    def array(self, key: str) -> list[Any]:
        value = self._get(key, _MISSING)
        if not isinstance(value, list):
            raise self.fail(f"field {key!r} must be an array")
        return value

    def object(self, key: str, *, nullable: bool = False) -> dict[str, Any] | None:
        value = self._get(key, _MISSING)
        if value is None and nullable:
            return None
        if not isinstance(value, dict):
            raise self.fail(f"field {key!r} must be an object")
        return value


def as_object(value: Any, ref: str | None, what: str) -> Fields:
    if not isinstance(value, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{what} must be a JSON object", ref)
    return Fields(value, ref)


def json_body(body: bytes, names: Sequence[str]) -> Fields:
    """An HTTP request's JSON body: a UTF-8 object holding only the fields `names`, not nested
    deeper than `MAX_JSON_DEPTH`; `bad-request` saying what is wrong else."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "the body is not UTF-8") from None
    check_json_depth(text)
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"the body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"the body must be a JSON object with {', '.join(names)}"
        )
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"unknown field {unknown[0][:40]!r}; expected {', '.join(names)}"
        )
    return Fields(value, None)
