"""Request bodies for the plain-HTTP API on the signaling port.

websockets reads the head of an HTTP request only, and drops a request that announces a body
without answering it: a reviewer's `PATCH` of a correction or a captioner's `POST` of a line got
the connection closed. `BodySplitter` (sans-I/O) takes the bytes a connection receives, keeps a
body announced by `Content-Length` (up to `MAX_BODY`), and gives websockets the head without it;
`BodyReadingConnection` is the websockets connection that runs it, and `process_request` reads
what it kept (`body_of`). A body it cannot take is an error the HTTP layer answers: too large
(413), chunked or without a length (411), a malformed length (400).

Only the head is ever parsed here, and only for its framing headers; websockets parses the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection

MAX_HEAD = 16 * 1024  # past this websockets refuses the head itself (431)
MAX_BODY = 64 * 1024
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
FRAMING = (b"content-length", b"transfer-encoding", b"expect")
DIGITS = re.compile(rb"[0-9]{1,12}")


@dataclass(frozen=True)
class BodyError:
    status: HTTPStatus
    message: str


class _Stage(Enum):
    HEAD = "head"  # reading the head
    BODY = "body"  # reading the announced body; the head is held back
    PASS = "pass"  # everything goes to websockets as it comes (no body: a WebSocket, a GET)
    DONE = "done"  # the body was read (or refused): what follows is not read


class BodySplitter:
    def __init__(self, max_body: int = MAX_BODY) -> None:
        self.max_body = max_body
        self.body: bytes | None = None  # the request's body, once read
        self.error: BodyError | None = None
        self.continue_needed = False  # the client waits for "100 Continue" before its body
        self._stage = _Stage.HEAD
        self._buffer = bytearray()
        self._head = b""
        self._length = 0

    def feed(self, data: bytes) -> bytes:
        """Bytes received; returns those websockets should read now."""
        if self._stage is _Stage.PASS:
            return data
        if self._stage is _Stage.DONE:
            return b""
        self._buffer += data
        if self._stage is _Stage.HEAD:
            return self._read_head()
        return self._read_body()

    def _read_head(self) -> bytes:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD:  # websockets answers a head this long (431)
                return self._pass()
            return b""
        head, rest = bytes(self._buffer[: end + 4]), self._buffer[end + 4 :]
        framing = _framing(head)
        length = framing.get(b"content-length", [])
        if set(length) <= {b"0"} and b"transfer-encoding" not in framing:
            return self._pass()  # no body: websockets reads the request (Content-Length: 0 too)
        self._head = _without_framing(head)
        self._buffer = bytearray(rest)
        if b"transfer-encoding" in framing:
            return self._refuse(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length")
        if len(set(length)) > 1 or not DIGITS.fullmatch(length[0]):
            return self._refuse(HTTPStatus.BAD_REQUEST, "Content-Length is not one number")
        self._length = int(length[0])
        if self._length > self.max_body:
            return self._refuse(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the body is over {self.max_body // 1024} KiB",
            )
        expect = b" ".join(framing.get(b"expect", [])).lower()
        self.continue_needed = b"100-continue" in expect and len(self._buffer) < self._length
        self._stage = _Stage.BODY
        return self._read_body()

    def _read_body(self) -> bytes:
        if len(self._buffer) < self._length:
            return b""
        self.body = bytes(self._buffer[: self._length])
        self._buffer = bytearray()
        self._stage = _Stage.DONE
        return self._head

    def _pass(self) -> bytes:
        self._stage = _Stage.PASS
        data, self._buffer = bytes(self._buffer), bytearray()
        return data

    def _refuse(self, status: HTTPStatus, message: str) -> bytes:
        self.error = BodyError(status, message)
        self._buffer = bytearray()
        self._stage = _Stage.DONE
        return self._head


def _framing(head: bytes) -> dict[bytes, list[bytes]]:
    """The head's framing headers (RFC 9112 section 6), by lower-cased name."""
    found: dict[bytes, list[bytes]] = {}
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() in FRAMING:
            found.setdefault(name.strip().lower(), []).append(value.strip())
    return found


def _without_framing(head: bytes) -> bytes:
    lines = head.split(b"\r\n")
    kept = [lines[0]]
    for line in lines[1:]:
        if line.partition(b":")[0].strip().lower() not in FRAMING:
            kept.append(line)
    return b"\r\n".join(kept)


class BodyReadingConnection(ServerConnection):
    """websockets' server connection, with the request body read first (`serve`'s
    `create_connection`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_body = BodySplitter()

    def data_received(self, data: bytes) -> None:
        passed = self.request_body.feed(data)
        if self.request_body.continue_needed:
            self.request_body.continue_needed = False
            self.transport.write(CONTINUE)
        if passed:
            super().data_received(passed)


def body_of(connection: ServerConnection) -> BodySplitter:
    """What was read of the request's body (nothing, for a connection of another kind)."""
    splitter = getattr(connection, "request_body", None)
    return splitter if isinstance(splitter, BodySplitter) else BodySplitter()
