"""The reviewer surface: /review/ (the page) and /api/ (sessions, transcripts, search, exports,
quality, corrections, deletion), behind the reviewer token.

    GET    /api/sessions?room&from&to&limit&offset
    GET    /api/search?q&room&limit
    GET    /api/sessions/ID                      the session, its segments (each with `rev`,
                                                 `corrected`), flags and corrections' history
    DELETE /api/sessions/ID                      the session, its captions and their history
    PATCH  /api/sessions/ID/segments/SEGMENT     {"text", "speaker"?, "note"?, "rev"}: 200 with
                                                 the new `rev`, 409 when `rev` is stale
    GET    /api/sessions/ID/export.FORMAT?original=1
    GET    /api/sessions/ID/quality

Credentials: `Authorization: Bearer TOKEN`, or HTTP Basic with the token as password (so that a
browser asks for it once and sends it with every request, downloads included). No credential: 401;
a wrong one, or a participant's: 403. A method a route does not serve: 405 with `Allow`. Every
parameter is validated here; the store only ever sees checked values, and search text only as
quoted FTS5 terms. Corrections are rate-limited per reviewer.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from access import Forbidden, InvalidToken
from access.admission import Gatekeeper
from access.tokens import room_matches
from captionlog import exports, quality
from captionlog.backends import Store
from captionlog.corrections import Correction, Outcome, parse_edit
from captionlog.dates import utc_day
from captionlog.errors import BadQuery, LogError, NotFound
from captionlog.log import CaptionLog
from protocol.captions import MAX_SEGMENT_ID
from protocol.signaling import ROOM_PATTERN
from protocol.text import is_valid_unicode
from sfu.config import ServerConfig
from sfu.web.auth import REVIEW_COOKIE, cookie_value
from sfu.web.bodies import BodySplitter
from sfu.web.responses import (
    error,
    json_response,
    not_allowed,
    rate_limited,
    response,
    static_file,
)
from sfu.web.throttle import RateConfig, RateLimiter

# A reviewer corrects a caption every few seconds; a script may go faster, within reason.
CORRECTION_RATE = RateConfig(rate=5.0, burst=50.0)
STATIC_REVIEWER = "reviewer-token"  # the author of corrections made with --reviewer-token


class ReviewHost(Protocol):
    """What the review pages need of the server that serves them."""

    config: ServerConfig
    gatekeeper: Gatekeeper | None
    correction_limits: RateLimiter  # per reviewer (CORRECTION_RATE)

    @property
    def log(self) -> CaptionLog | None: ...


SESSION = r"([0-9a-f]{32})"
ROUTES: list[tuple[re.Pattern[str], dict[str, str]]] = [  # path → method → route
    (re.compile(r"/api/sessions"), {"GET": "sessions"}),
    (re.compile(rf"/api/sessions/{SESSION}"), {"GET": "session", "DELETE": "delete"}),
    (re.compile(rf"/api/sessions/{SESSION}/segments/([^/]{{1,1000}})"), {"PATCH": "correct"}),
    (re.compile(rf"/api/sessions/{SESSION}/export\.([a-z]+)"), {"GET": "export"}),
    (re.compile(rf"/api/sessions/{SESSION}/quality"), {"GET": "quality"}),
    (re.compile(r"/api/search"), {"GET": "search"}),
]
MAX_QUERY_CHARS = 200
T = TypeVar("T")
DIGITS = re.compile(r"[0-9]{1,9}")
MAX_LIMIT = 500
REALM = 'Basic realm="livecaptions review", charset="UTF-8"'


def is_review_path(path: str) -> bool:
    """The reviewer surface's paths (the captioner's API, /api/rooms/, is not one)."""
    if path.startswith("/api/rooms/"):
        return False
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


@dataclass(frozen=True)
class Reviewer:
    identity: str  # who corrects: the token's `sub`, or the static reviewer token's name
    scope: str  # the rooms they see: a room, a pattern, or "*"


def reviewer_of(server: ReviewHost, headers: Headers) -> Reviewer:
    """An authorized reviewer: all rooms for the static reviewer token; those of its `room` claim
    (a name or a pattern) for a room token with the review grant (also a signed-in reviewer's)."""
    given = credential(headers) or ""
    token = server.config.log.reviewer_token
    static = token is not None and hmac.compare_digest(given.encode(), token.encode())
    if server.gatekeeper is None or static:
        return Reviewer(STATIC_REVIEWER, "*")
    claims = server.gatekeeper.reviewer(given, time.time())
    return Reviewer(claims.identity, claims.room)


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

    def flag(self, name: str) -> bool:
        value = self._one(name)
        if value not in (None, "0", "1"):
            raise BadQuery(f"{name} must be 0 or 1")
        return value == "1"

    def text(self, name: str) -> str:
        value = self._one(name) or ""
        if len(value) > MAX_QUERY_CHARS:
            raise BadQuery(f"{name} is longer than {MAX_QUERY_CHARS} characters")
        if not value.strip():
            raise BadQuery(f"{name} is required")
        return value


def export_name(session: dict[str, Any], extension: str, *, original: bool = False) -> str:
    day = time.strftime("%Y-%m-%d", time.gmtime(session["started_unix"]))
    kind = "-original" if original else ""
    return f"{session['room']}-{day}-{session['id'][:8]}{kind}.{extension}"


def segment_of(raw: str) -> str:
    """A segment id from the path, percent-decoded (ids hold '#' and '/')."""
    try:
        segment = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise BadQuery("the segment id is not UTF-8") from None
    if not 1 <= len(segment) <= MAX_SEGMENT_ID or not is_valid_unicode(segment):
        raise BadQuery(f"a segment id is 1-{MAX_SEGMENT_ID} characters of valid Unicode")
    return segment


async def handle(server: ReviewHost, request: Request, body: BodySplitter) -> Response:
    refusal = authorize(server, request.headers)
    if refusal is not None:
        return refusal
    url = urlsplit(request.path)
    path = url.path
    if path in ("/review", "/review/"):
        return (
            static_file("review.html")
            if request.method == "GET"
            else not_allowed(request.method, ["GET"])
        )
    for pattern, methods in ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        route = methods.get(request.method)
        if route is None:
            return not_allowed(request.method, methods)
        if body.error is not None:
            return error(body.error.status, "bad-request", body.error.message)
        try:
            call = Call(server, reviewer_of(server, request.headers), Query(url.query))
            return await ANSWERS[route](call, match.groups(), body.body or b"")
        except NotFound as exc:
            return error(HTTPStatus.NOT_FOUND, "not-found", str(exc))
        except BadQuery as exc:
            return error(HTTPStatus.BAD_REQUEST, "bad-request", str(exc))
        except LogError as exc:
            return error(HTTPStatus.SERVICE_UNAVAILABLE, "unavailable", str(exc))
    return error(HTTPStatus.NOT_FOUND, "not-found", "no such reviewer page or API")


@dataclass(frozen=True)
class Call:
    """One authorized API request: who asks, and its query string."""

    server: ReviewHost
    reviewer: Reviewer
    query: Query

    async def store(self, fn: Callable[[Store], T]) -> T:
        log = self.server.log
        assert log is not None  # authorize() answered 404 without a log
        return await asyncio.to_thread(log.with_store, fn)

    async def session(self, session_id: str) -> dict[str, Any]:
        """The session, when this reviewer may see it: another room's does not exist for them."""
        found = await self.store(lambda s: s.session(session_id))
        if not room_matches(self.reviewer.scope, found["room"]):
            raise NotFound(f"no session {session_id!r}")
        return found


async def _sessions(call: Call, groups: tuple[str, ...], body: bytes) -> Response:
    query = call.query
    room, since, until = query.room(), query.date("from"), query.date("to", end=True)
    limit = query.integer("limit", 100, 1, MAX_LIMIT)
    offset = query.integer("offset", 0, 0, 1_000_000)
    room = scoped_room(call.reviewer.scope, room)
    rows = await call.store(
        lambda s: s.sessions(room=room, since=since, until=until, limit=limit, offset=offset)
    )
    rows = [r for r in rows if room_matches(call.reviewer.scope, r["room"])]
    return json_response(HTTPStatus.OK, {"sessions": rows})


async def _search(call: Call, groups: tuple[str, ...], body: bytes) -> Response:
    text, room = call.query.text("q"), call.query.room()
    limit = call.query.integer("limit", 50, 1, MAX_LIMIT)
    room = scoped_room(call.reviewer.scope, room)
    hits = await call.store(lambda s: s.search(text, room=room, limit=limit))
    hits = [h for h in hits if room_matches(call.reviewer.scope, h["room"])]
    return json_response(HTTPStatus.OK, {"query": text, "hits": hits})


async def _delete(call: Call, groups: tuple[str, ...], body: bytes) -> Response:
    session_id = groups[0]
    await call.session(session_id)
    if not await call.store(lambda s: s.delete_session(session_id)):
        raise NotFound(f"no session {session_id!r}")
    return json_response(HTTPStatus.OK, {"deleted": session_id})


async def _session(call: Call, groups: tuple[str, ...], body: bytes) -> Response:
    session = await call.session(groups[0])

    def read(store: Store) -> dict[str, Any]:
        return {
            "session": session,
            "segments": store.segments(session["id"]),
            "flags": store.flags(session["id"]),
            "corrections": store.corrections(session["id"]),
        }

    return json_response(HTTPStatus.OK, await call.store(read))


async def _quality(call: Call, groups: tuple[str, ...], body: bytes) -> Response:
    session = await call.session(groups[0])

    def read(store: Store) -> dict[str, Any]:
        return quality.report(
            session,
            store.segments(session["id"]),
            store.speech(session["id"]),
            store.flags(session["id"]),
            store.corrections(session["id"]),
        )

    return json_response(HTTPStatus.OK, await call.store(read))


async def _export(call: Call, groups: tuple[str, ...], body: bytes) -> Response:
    session_id, extension = groups
    session = await call.session(session_id)
    if extension not in exports.FORMATS:
        raise BadQuery(f"unknown export format {extension!r}; one of {', '.join(exports.FORMATS)}")
    original = call.query.flag("original")

    def read(store: Store) -> str:
        return exports.export(
            extension,
            session,
            store.segments(session_id),
            corrections=store.corrections(session_id),
            original=original,
        )

    reply = response(
        HTTPStatus.OK, (await call.store(read)).encode(), exports.FORMATS[extension][1]
    )
    name = export_name(session, extension, original=original)
    reply.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return reply


async def _correct(call: Call, groups: tuple[str, ...], body: bytes) -> Response:
    """A reviewer's correction: applied (200, the new `rev`) or refused as stale (409, with the
    segment as it is now); either way in the history. Committed before the answer."""
    session_id, segment = groups[0], segment_of(groups[1])
    if not body:
        raise BadQuery('a correction needs a JSON body {"text", "speaker"?, "note"?, "rev"}')
    edit = parse_edit(body)
    wait = call.server.correction_limits.take(call.reviewer.identity, time.monotonic())
    if wait:
        return rate_limited("too many corrections", wait)
    await call.session(session_id)
    correction = Correction(session_id, segment, edit, call.reviewer.identity, time.time())
    result = await call.store(lambda s: s.correct(correction))
    if result.outcome is Outcome.CONFLICT:
        return json_response(
            HTTPStatus.CONFLICT,
            {
                "error": "conflict",
                "message": f"the segment is at revision {result.rev}, not {edit.rev}: another "
                "correction came first; correct it again from its current text",
            }
            | result.to_json(),
        )
    return json_response(HTTPStatus.OK, result.to_json())


Answer = Callable[[Call, tuple[str, ...], bytes], Awaitable[Response]]
ANSWERS: dict[str, Answer] = {
    "sessions": _sessions,
    "search": _search,
    "session": _session,
    "delete": _delete,
    "quality": _quality,
    "export": _export,
    "correct": _correct,
}
