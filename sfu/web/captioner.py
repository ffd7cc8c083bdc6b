"""The human captioner's surface: the captioner page, and the API that takes a captioner's lines.

    GET  /captioner/                       the captioner page (public, like the participant page:
                                           it holds no data; the token is given in the page)
    POST /api/rooms/ROOM/captions          a line, as JSON {"seq", "text", "language"?}, or as
                                           Zoom's caption API takes it: ?seq=N[&lang=CODE] with
                                           the text as a text/plain body
    GET  /api/rooms/ROOM/captioner         the room's mode, whether a captioner is active
    PUT  /api/rooms/ROOM/captioner         {"mode": "instead" | "beside"}

Credential: a room token with the `caption` grant for ROOM, as `Authorization: Bearer TOKEN`, or
as `?token=` for captioning software that takes only a URL (as Zoom's API token is a URL; a URL
may end up in proxy logs, so prefer the header). None: 401; invalid, another room's or without
the grant: 403. A room with no meeting in progress on this server: 404. A sequence number used for
another line: 409. Lines are rate-limited per room (429 with Retry-After). Every refusal says why
and touches no other room.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from access import Forbidden, InvalidToken, RoomClaims
from access.admission import Gatekeeper
from protocol import HumanMode
from protocol.errors import ProtocolError
from protocol.fields import json_body
from protocol.human import enum_field
from protocol.signaling import LANGUAGE_PATTERN, ROOM_PATTERN
from protocol.text import clean_text
from sfu.rooms.human import Accepted, HumanCaptions, Line, SequenceConflict, TooManyCaptioners
from sfu.rooms.language import primary
from sfu.web.bodies import BodySplitter
from sfu.web.responses import error, json_response, not_allowed, rate_limited, static_file
from sfu.web.throttle import RateConfig, RateLimiter

MAX_LINE = 500  # characters of one line; it is shown as captions of 2 x 42 characters
MAX_SEQ = 2**53 - 1  # integers a JavaScript client counts exactly
LINE_RATE = RateConfig(rate=5.0, burst=20.0)  # per room: a fast typist sends a line a second
PAGE = "/captioner/"
API = "/api/rooms/"
ROUTES = {"captions": {"POST": "line"}, "captioner": {"GET": "state", "PUT": "mode"}}


class BadLine(Exception):
    """A request the API cannot take; the message says what to fix (400 unless said)."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.status = status


class HumanRoom(Protocol):
    """What the API needs of a room in progress (sfu.rooms.room.Room)."""

    human: HumanCaptions

    def now(self) -> float: ...

    def human_line(self, identity: str, name: str, line: Line) -> Accepted: ...

    def set_human_mode(self, mode: HumanMode) -> None: ...


class CaptionerHost(Protocol):
    """What the captioner's API needs of the server that serves it."""

    gatekeeper: Gatekeeper | None
    line_limits: RateLimiter  # per room (LINE_RATE)

    @property
    def rooms(self) -> Mapping[str, HumanRoom]: ...


def is_captioner_path(path: str) -> bool:
    return path in ("/captioner", PAGE) or path.startswith(API)


async def handle(server: CaptionerHost, request: Request, body: BodySplitter) -> Response:
    url = urlsplit(request.path)
    if url.path in ("/captioner", PAGE):
        if request.method != "GET":
            return not_allowed(request.method, ["GET"])
        return static_file("captioner.html")
    room, _, what = url.path.removeprefix(API).partition("/")
    methods = ROUTES.get(what)
    if methods is None or not ROOM_PATTERN.fullmatch(room):
        return error(HTTPStatus.NOT_FOUND, "not-found", "no such captioner API")
    route = methods.get(request.method)
    if route is None:
        return not_allowed(request.method, methods)
    try:
        query = _query(url.query)
        claims = _captioner(server, request.headers, query, room)
        if body.error is not None:
            raise BadLine(body.error.message, body.error.status)
        live = server.rooms.get(room)
        if live is None:
            raise BadLine(f"no meeting in room {room!r} on this server", HTTPStatus.NOT_FOUND)
        if route == "state":
            return _state(room, live)
        if route == "mode":
            live.set_human_mode(parse_mode(body.body or b""))
            return _state(room, live)
        return _line(server, room, live, claims, request.headers, query, body.body or b"")
    except BadLine as exc:
        return error(exc.status, _code(exc.status), str(exc))


def _code(status: HTTPStatus) -> str:
    return {
        HTTPStatus.UNAUTHORIZED: "unauthorized",
        HTTPStatus.FORBIDDEN: "forbidden",
        HTTPStatus.NOT_FOUND: "not-found",
        HTTPStatus.CONFLICT: "conflict",
    }.get(status, "bad-request")


def _query(query: str) -> dict[str, str]:
    if len(query) > 8192:
        raise BadLine("query string too long")
    try:
        values = parse_qs(query, max_num_fields=10, errors="strict")
    except ValueError as exc:  # UnicodeDecodeError included
        raise BadLine(f"invalid query string: {exc}") from None
    unknown = sorted(set(values) - {"seq", "lang", "token"})
    if unknown:
        raise BadLine(f"unknown parameter {unknown[0][:40]!r}; expected seq, lang, token")
    if any(len(v) > 1 for v in values.values()):
        raise BadLine("a parameter is given more than once")
    return {name: v[0] for name, v in values.items()}


def _captioner(
    server: CaptionerHost, headers: Headers, query: dict[str, str], room: str
) -> RoomClaims:
    """The claims of the request's captioner token for `room`; BadLine 401/403 else."""
    values = headers.get_all("Authorization")
    if len(values) > 1:
        raise BadLine("more than one Authorization header")
    scheme, _, given = (values[0] if values else "").strip().partition(" ")
    token = given.strip() if scheme.lower() == "bearer" else query.get("token", "")
    if not token:
        raise BadLine(
            "a captioner's room token is required: Authorization: Bearer TOKEN (or ?token=)",
            HTTPStatus.UNAUTHORIZED,
        )
    if server.gatekeeper is None:
        raise BadLine(
            "captioners need room tokens, which this server does not use (--token-secret)",
            HTTPStatus.FORBIDDEN,
        )
    try:
        return server.gatekeeper.captioner(token, room, time.time())
    except (Forbidden, InvalidToken) as exc:
        raise BadLine(str(exc), HTTPStatus.FORBIDDEN) from None


def _line(
    server: CaptionerHost,
    room: str,
    live: HumanRoom,
    claims: RoomClaims,
    headers: Headers,
    query: dict[str, str],
    body: bytes,
) -> Response:
    line = parse_line(body, headers.get("Content-Type", ""), query)
    wait = server.line_limits.take(room, time.monotonic())
    if wait:
        return rate_limited(f"too many lines in room {room!r}", wait)
    try:
        accepted = live.human_line(claims.identity, claims.name, line)
    except SequenceConflict as exc:
        raise BadLine(str(exc), HTTPStatus.CONFLICT) from None
    except TooManyCaptioners as exc:
        raise BadLine(str(exc), HTTPStatus.FORBIDDEN) from None
    return json_response(
        HTTPStatus.OK,
        {
            "room": room,
            "seq": accepted.seq,
            "segments": list(accepted.segments),
            "duplicate": accepted.duplicate,
            "late": accepted.late,
        }
        | _state_of(live),
    )


def _state(room: str, live: HumanRoom) -> Response:
    return json_response(HTTPStatus.OK, {"room": room} | _state_of(live))


def _state_of(live: HumanRoom) -> dict[str, Any]:
    return {"mode": live.human.mode.value, "active": live.human.active(live.now())}


# --- parsing (pure: fuzzed in tests/protocol/test_fuzz.py) ---------------------------------------


def parse_line(body: bytes, content_type: str, query: dict[str, str]) -> Line:
    """A line: JSON {"seq", "text", "language"?}, or Zoom-style text/plain with ?seq=&lang=."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json":
        if "seq" in query or "lang" in query:
            raise BadLine("give seq and language in the JSON body, not in the query string")
        try:
            fields = json_body(body, ("seq", "text", "language"))
            seq = fields.integer("seq", minimum=0)
            text, language = fields.string("text"), fields.optional_string("language")
        except ProtocolError as exc:
            raise BadLine(exc.message) from None
    elif kind in ("text/plain", ""):
        if "seq" not in query:
            raise BadLine("a text/plain line needs ?seq=N (or send JSON {seq, text})")
        if not query["seq"].isascii() or not query["seq"].isdigit():
            raise BadLine("seq must be a whole number")
        seq, text, language = int(query["seq"]), _utf8(body), query.get("lang")
    else:
        raise BadLine(
            "send the line as application/json or text/plain",
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        )
    if seq > MAX_SEQ:
        raise BadLine(f"seq must be at most {MAX_SEQ}")
    if language is not None and not LANGUAGE_PATTERN.fullmatch(language):
        raise BadLine(f"language {language[:20]!r} is not a language tag such as en or fr-CA")
    try:
        cleaned = clean_text(text, "the line", max_chars=MAX_LINE)
    except ProtocolError as exc:
        raise BadLine(exc.message) from None
    if not cleaned:
        raise BadLine("the line is empty")
    return Line(seq, cleaned, primary(language) if language else None)


def parse_mode(body: bytes) -> HumanMode:
    try:
        mode: HumanMode = enum_field(json_body(body, ("mode",)), "mode", HumanMode)
    except ProtocolError as exc:
        raise BadLine(exc.message) from None
    return mode


def _utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadLine("the body is not UTF-8") from None
