"""The reviewer surface: /review/ (the page) and /api/ (sessions, transcripts, search, exports,
quality, deletion), behind the reviewer token.

Credentials: `Authorization: Bearer TOKEN`, or HTTP Basic with the token as password (so that a
browser asks for it once and sends it with every request, downloads included). No credential: 401;
a wrong one, or a participant's: 403. Every parameter is validated here; the store only ever sees
checked values, and search text only as quoted FTS5 terms.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import re
import time
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from access import Forbidden, InvalidToken
from access.admission import Gatekeeper
from access.tokens import room_matches
from captionlog import exports, quality
from captionlog.dates import utc_day
from captionlog.errors import BadQuery, LogError, NotFound
from captionlog.log import CaptionLog
from captionlog.records import SpeechSpan
from captionlog.store import CaptionStore
from protocol.signaling import ROOM_PATTERN
from sfu.config import ServerConfig
from sfu.web.auth import REVIEW_COOKIE, cookie_value
from sfu.web.responses import json_response, response, static_file


class ReviewHost(Protocol):
    """What the review pages need of the server that serves them."""

    config: ServerConfig
    gatekeeper: Gatekeeper | None

    @property
    def log(self) -> CaptionLog | None: ...


SESSION = r"([0-9a-f]{32})"
ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"/api/sessions"), "sessions"),
    (re.compile(rf"/api/sessions/{SESSION}"), "session"),
    (re.compile(rf"/api/sessions/{SESSION}/export\.([a-z]+)"), "export"),
    (re.compile(rf"/api/sessions/{SESSION}/quality"), "quality"),
    (re.compile(r"/api/search"), "search"),
]
METHODS = {"session": ("GET", "DELETE")}
MAX_QUERY_CHARS = 200
DIGITS = re.compile(r"[0-9]{1,9}")
MAX_LIMIT = 500
REALM = 'Basic realm="livecaptions review", charset="UTF-8"'


def error(status: HTTPStatus, code: str, message: str, **headers: str) -> Response:
    reply = json_response(status, {"error": code, "message": message})
    for name, value in headers.items():
        reply.headers[name.replace("_", "-")] = value
    return reply


def is_review_path(path: str) -> bool:
    return path == "/review" or path.startswith(("/review/", "/api/"))


class BadCredential(Exception):
    """An Authorization header that cannot be read: 400, whatever the token."""


def credential(headers: Headers) -> str | None:
    """The token of the request's one Authorization header; None when there is none.

    Headers reach us decoded as ASCII with surrogate escapes for other bytes: a value that is not
    ASCII, or a second Authorization header, is refused rather than guessed at."""
    values = headers.get_all("Authorization")
    if not values:
        return cookie_value(headers, REVIEW_COOKIE)  # a reviewer who signed in (sfu/web/auth.py)
    if len(values) > 1:
        raise BadCredential("more than one Authorization header")
    return _token_of(values[0])


def _token_of(value: str) -> str:
    if not value.isascii():
        raise BadCredential("the Authorization header must be ASCII")
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(rest.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    return ""


def authorize(server: ReviewHost, headers: Headers) -> Response | None:
    """None when the request carries a reviewer credential (the static reviewer token, or a room
    token with the `review` grant); the refusal otherwise."""
    token = server.config.log.reviewer_token
    if server.log is None:
        return error(HTTPStatus.NOT_FOUND, "not-found", "the caption log is off on this server")
    if token is None and server.gatekeeper is None:
        return error(
            HTTPStatus.FORBIDDEN,
            "forbidden",
            "reviewer access is not configured on this server (--reviewer-token)",
        )
    try:
        given = credential(headers)
    except BadCredential as exc:
        return error(HTTPStatus.BAD_REQUEST, "bad-request", str(exc))
    if given is None:
        return error(
            HTTPStatus.UNAUTHORIZED,
            "unauthorized",
            "a reviewer credential is required: Authorization: Bearer TOKEN, or Basic with the "
            "token as password",
            WWW_Authenticate=REALM,
        )
    if token is not None and hmac.compare_digest(given.encode(), token.encode()):
        return None
    participant = server.config.participant_token
    if participant is not None and hmac.compare_digest(given.encode(), participant.encode()):
        return error(
            HTTPStatus.FORBIDDEN, "forbidden", "a participant credential does not open reviews"
        )
    if server.gatekeeper is not None and given.count(".") == 2:  # a JWT: a room token?
        try:
            server.gatekeeper.reviewer(given, time.time())
        except Forbidden as exc:
            return error(HTTPStatus.FORBIDDEN, "forbidden", str(exc))
        except InvalidToken as exc:
            return error(HTTPStatus.FORBIDDEN, "forbidden", f"invalid room token: {exc}")
        return None
    return error(HTTPStatus.FORBIDDEN, "forbidden", "invalid reviewer credential")


def reviewer_scope(server: ReviewHost, headers: Headers) -> str:
    """The rooms an authorized reviewer sees: all for the static reviewer token; those of its
    `room` claim (a name or a pattern) for a room token with the review grant."""
    given = credential(headers) or ""
    token = server.config.log.reviewer_token
    static = token is not None and hmac.compare_digest(given.encode(), token.encode())
    if server.gatekeeper is None or static:
        return "*"
    return server.gatekeeper.reviewer(given, time.time()).room


def scoped_room(scope: str, asked: str | None) -> str | None:
    """The room filter of a list query: what was asked, or the scope's one room."""
    if asked is None and "*" not in scope:
        return scope
    return asked


class Query:
    """Checked query-string parameters; each failure is a BadQuery naming the parameter."""

    def __init__(self, query: str) -> None:
        if len(query) > 2048:
            raise BadQuery("query string too long")
        try:
            self._values = parse_qs(query, strict_parsing=False, max_num_fields=20, errors="strict")
        except ValueError as exc:  # UnicodeDecodeError included: %-escapes must be UTF-8
            raise BadQuery(f"invalid query string: {exc}") from None

    def _one(self, name: str) -> str | None:
        values = self._values.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise BadQuery(f"{name} given more than once")
        return values[0]

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self._one(name)
        if value is None:
            return default
        # ASCII digits only: str.isdigit() also takes '²', which int() refuses.
        if not DIGITS.fullmatch(value) or not low <= int(value) <= high:
            raise BadQuery(f"{name} must be an integer from {low} to {high}")
        return int(value)

    def room(self) -> str | None:
        value = self._one("room")
        if value is not None and not ROOM_PATTERN.fullmatch(value):
            raise BadQuery("room must be 1-64 characters of [A-Za-z0-9_-]")
        return value

    def date(self, name: str, *, end: bool = False) -> float | None:
        """A UTC date YYYY-MM-DD as unix time (its start; the next day's start for `end`)."""
        value = self._one(name)
        if value is None:
            return None
        try:
            return utc_day(value, end=end)
        except ValueError:
            raise BadQuery(f"{name} must be a date YYYY-MM-DD") from None

    def text(self, name: str) -> str:
        value = self._one(name) or ""
        if len(value) > MAX_QUERY_CHARS:
            raise BadQuery(f"{name} is longer than {MAX_QUERY_CHARS} characters")
        if not value.strip():
            raise BadQuery(f"{name} is required")
        return value


def export_name(session: dict[str, Any], extension: str) -> str:
    day = time.strftime("%Y-%m-%d", time.gmtime(session["started_unix"]))
    return f"{session['room']}-{day}-{session['id'][:8]}.{extension}"


async def handle(server: ReviewHost, request: Request) -> Response:
    refusal = authorize(server, request.headers)
    if refusal is not None:
        return refusal
    scope = reviewer_scope(server, request.headers)
    url = urlsplit(request.path)
    path = url.path
    if path in ("/review", "/review/"):
        return static_file("review.html")
    for pattern, route in ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        allowed = METHODS.get(route, ("GET",))
        if request.method not in allowed:
            return error(
                HTTPStatus.METHOD_NOT_ALLOWED,
                "method-not-allowed",
                f"{request.method} is not allowed on {route}; use {', '.join(allowed)}",
                Allow=", ".join(allowed),
            )
        try:
            query = Query(url.query)
            return await _answer(server, route, match.groups(), request.method, query, scope)
        except NotFound as exc:
            return error(HTTPStatus.NOT_FOUND, "not-found", str(exc))
        except BadQuery as exc:
            return error(HTTPStatus.BAD_REQUEST, "bad-request", str(exc))
        except LogError as exc:
            return error(HTTPStatus.SERVICE_UNAVAILABLE, "unavailable", str(exc))
    return error(HTTPStatus.NOT_FOUND, "not-found", "no such reviewer page or API")


async def _answer(
    server: ReviewHost,
    route: str,
    groups: tuple[str, ...],
    method: str,
    query: Query,
    scope: str = "*",
) -> Response:
    log = server.log
    assert log is not None

    def store(fn: Any) -> Any:
        return asyncio.to_thread(log.with_store, fn)

    if route == "sessions":
        room, since, until = query.room(), query.date("from"), query.date("to", end=True)
        limit = query.integer("limit", 100, 1, MAX_LIMIT)
        offset = query.integer("offset", 0, 0, 1_000_000)
        room = scoped_room(scope, room)
        rows = await store(
            lambda s: s.sessions(room=room, since=since, until=until, limit=limit, offset=offset)
        )
        rows = [r for r in rows if room_matches(scope, r["room"])]
        return json_response(HTTPStatus.OK, {"sessions": rows})
    if route == "search":
        text, room = query.text("q"), query.room()
        limit = query.integer("limit", 50, 1, MAX_LIMIT)
        room = scoped_room(scope, room)
        hits = await store(lambda s: s.search(text, room=room, limit=limit))
        hits = [h for h in hits if room_matches(scope, h["room"])]
        return json_response(HTTPStatus.OK, {"query": text, "hits": hits})
    session_id = groups[0]
    if scope != "*":  # a room-scoped reviewer: another room's session does not exist for them
        seen = await store(lambda s: s.session(session_id))
        if not room_matches(scope, seen["room"]):
            raise NotFound(f"no session {session_id!r}")
    if route == "session" and method == "DELETE":
        deleted = await store(lambda s: s.delete_session(session_id))
        if not deleted:
            raise NotFound(f"no session {session_id!r}")
        return json_response(HTTPStatus.OK, {"deleted": session_id})

    def transcript(
        store: CaptionStore,
    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], list[SpeechSpan]]:
        session = store.session(session_id)
        return (
            session,
            store.segments(session_id),
            store.flags(session_id),
            store.speech(session_id),
        )

    session, segments, flags, speech = await store(transcript)
    if route == "session":
        return json_response(
            HTTPStatus.OK, {"session": session, "segments": segments, "flags": flags}
        )
    if route == "quality":
        return json_response(HTTPStatus.OK, quality.report(session, segments, speech, flags))
    extension = groups[1]
    if extension not in exports.FORMATS:
        raise BadQuery(f"unknown export format {extension!r}; one of {', '.join(exports.FORMATS)}")
    body = exports.export(extension, session, segments).encode()
    reply = response(HTTPStatus.OK, body, exports.FORMATS[extension][1])
    reply.headers["Content-Disposition"] = (
        f'attachment; filename="{export_name(session, extension)}"'
    )
    return reply
