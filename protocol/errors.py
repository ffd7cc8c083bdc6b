"""Protocol errors.

    ProtocolError            an input that violates PROTOCOL.md; carries the wire error code
      (code: ErrorCode)      bad-request, unauthorized, forbidden, room-full, not-joined,
                             too-large, rate-limited, unavailable, internal

Every validation failure in this package raises ProtocolError with the code the server must put in
its `error` frame, so the edge never has to guess how to answer bad input.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """The `code` of an `error` frame (PROTOCOL.md section 1)."""

    BAD_REQUEST = "bad-request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    ROOM_FULL = "room-full"
    NOT_JOINED = "not-joined"
    TOO_LARGE = "too-large"
    RATE_LIMITED = "rate-limited"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class ProtocolError(Exception):
    """An input that violates the protocol, with the error code and the offending message type."""

    def __init__(self, code: ErrorCode, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref

    def __repr__(self) -> str:
        return f"ProtocolError({self.code.value!r}, {self.message!r}, ref={self.ref!r})"
