"""The access surface under /auth/: single sign-on for the page, and minting for a trusted
backend.

    GET  /auth/config               {"sign_in": bool}: whether the page offers "Sign in"
    GET  /auth/login?for=review     the same, for the caption log: a reviewer comes back to
                                    /review/ with their token in an HttpOnly cookie
    GET  /auth/login?room=R&for=caption
                                    the same, for a human captioner: a member of the
                                    captioners' group comes back to /captioner/?room=R#token=…
    GET  /auth/login?room=R         302 to the identity provider (state, nonce, PKCE); the
                                    state also goes in an HttpOnly cookie, so that a callback
                                    only completes in the browser that started it
    GET  /auth/callback?code&state  302 to /?room=R#token=TOKEN (a fragment: never sent to a
                                    server, kept out of logs and Referer headers), or to
                                    /?room=R#signin-error=SENTENCE when it failed
    POST /auth/token?room=R&identity=ID&name=N&ttl=2h&grant=G...
                                    Authorization: Bearer MINT_TOKEN → {"token", "url", ...}
                                    (our HTTP layer takes no request body: parameters are in
                                    the query string)
"""

from __future__ import annotations

import argparse
import hmac
import time
from collections.abc import Callable
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, quote, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from access import CAPTIONER_GRANTS, DEFAULT_GRANTS, Grant, RoomClaims, TokenIssuer
from access.cli import CAPTIONER_PAGE, duration, invitation
from access.errors import AccessConfigError, SignInFailed
from access.grants import parse_grants
from access.oidc import OidcClient, SignedIn
from access.rooms import RoomPolicy
from protocol.signaling import ROOM_PATTERN
from sfu.web.responses import error, json_response, not_allowed

LOGIN_COOKIE = "livecaptions_login"
# A signed-in reviewer's token, sent by the browser with every /review/ and /api/ request and
# download. HttpOnly: no script reads it; SameSite=Lax: no other site's DELETE carries it.
REVIEW_COOKIE = "livecaptions_review"
REVIEW_LOGIN = "*"  # the pending login's room when the person signs in to review
MAX_QUERY = 2048


class BadParameters(Exception):
    """A query string the endpoint cannot take; the message says which parameter."""


def redirect(location: str, cookie: str | None = None) -> Response:
    reply = json_response(HTTPStatus.FOUND, {"location": location})
    reply.headers["Location"] = location
    if cookie is not None:
        reply.headers["Set-Cookie"] = cookie
    return reply


def parameters(
    query: str, names: set[str], repeatable: frozenset[str] = frozenset()
) -> dict[str, list[str]]:
    if len(query) > MAX_QUERY:
        raise BadParameters("query string too long")
    try:
        values = parse_qs(query, max_num_fields=20)
    except ValueError as exc:
        raise BadParameters(f"invalid query string: {exc}") from None
    unknown = set(values) - names
    if unknown:
        raise BadParameters(f"unknown parameters {sorted(unknown)}; expected {sorted(names)}")
    for name, given in values.items():
        if len(given) > 1 and name not in repeatable:
            raise BadParameters(f"{name} given more than once")
    return values


def room_of(values: dict[str, list[str]]) -> str:
    room = values.get("room", [""])[0]
    if not ROOM_PATTERN.fullmatch(room):
        raise BadParameters("room must be 1-64 characters of [A-Za-z0-9_-]")
    return room


def cookie_value(headers: Headers, name: str) -> str | None:
    cookies = SimpleCookie()
    try:
        cookies.load(headers.get("Cookie", ""))
    except CookieError:
        return None
    morsel = cookies.get(name)
    return morsel.value if morsel is not None else None


class AuthEndpoints:
    """Built by the server from its parts; knows nothing of rooms in progress."""

    def __init__(
        self,
        *,
        issuer: TokenIssuer,
        rooms: RoomPolicy,
        base_url: Callable[[], str],
        oidc: OidcClient | None = None,
        mint_token: str | None = None,
        max_ttl: float = 7 * 24 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.rooms = rooms
        self.oidc = oidc
        self.mint_token = mint_token
        self.max_ttl = max_ttl
        self._base_url = base_url
        self._clock = clock

    @property
    def callback_url(self) -> str:
        return self._base_url().rstrip("/") + "/auth/callback"

    async def handle(self, request: Request) -> Response:
        url = urlsplit(request.path)
        routes = {
            ("GET", "/auth/config"): self._config,
            ("GET", "/auth/login"): self._login,
            ("GET", "/auth/callback"): self._callback,
            ("POST", "/auth/token"): self._mint,
        }
        route = routes.get((request.method, url.path))
        if route is None:
            allowed = [method for method, path in routes if path == url.path]
            if allowed:
                return not_allowed(request.method, allowed)
            return error(HTTPStatus.NOT_FOUND, "not-found", f"no {request.method} {url.path}")
        try:
            return await route(request.headers, url.query)
        except BadParameters as exc:
            return error(HTTPStatus.BAD_REQUEST, "bad-request", str(exc))

    async def _config(self, headers: Headers, query: str) -> Response:
        return json_response(HTTPStatus.OK, {"sign_in": self.oidc is not None})

    async def _login(self, headers: Headers, query: str) -> Response:
        if self.oidc is None:
            return error(HTTPStatus.NOT_FOUND, "not-found", "single sign-on is not configured")
        values = parameters(query, {"room", "for"})
        purpose = values.get("for", ["join"])[0]
        if purpose == "review" and "room" not in values:
            room = REVIEW_LOGIN
        elif purpose == "caption":
            room = room_of(values)
        elif "for" in values:
            raise BadParameters("for must be 'review' (without room) or 'caption' (with room)")
        else:
            room = room_of(values)
        try:
            location = await self.oidc.begin(room, self.callback_url, self._clock(), purpose)
        except SignInFailed as exc:
            return error(HTTPStatus.BAD_GATEWAY, "unavailable", str(exc))
        state = parse_qs(urlsplit(location).query)["state"][0]
        cookie = f"{LOGIN_COOKIE}={state}; Path=/auth/; HttpOnly; SameSite=Lax; Max-Age=600"
        return redirect(location, cookie)

    async def _callback(self, headers: Headers, query: str) -> Response:
        if self.oidc is None:
            return error(HTTPStatus.NOT_FOUND, "not-found", "single sign-on is not configured")
        values = parameters(query, {"code", "state", "error", "error_description", "iss"})
        if "error" in values:
            reason = values.get("error_description", values["error"])[0][:200]
            return self._back(None, f"The sign-in was refused: {reason}")
        state = values.get("state", [""])[0]
        if not state or not hmac.compare_digest(cookie_value(headers, LOGIN_COOKIE) or "", state):
            return error(HTTPStatus.BAD_REQUEST, "bad-request", "this sign-in was not started here")
        now = self._clock()
        login = self.oidc.pending.take(state, now)
        if login is None:
            return error(HTTPStatus.BAD_REQUEST, "bad-request", "unknown or expired sign-in")
        try:
            person = await self.oidc.finish(
                values.get("code", [""])[0], login, self.callback_url, now
            )
        except SignInFailed as exc:
            return self._back(login.room, f"The sign-in could not be completed: {exc}")
        if login.room == REVIEW_LOGIN:
            return self._reviewer(person, now)
        if not self.rooms.rule_for(login.room).admits(person.identity):
            return self._back(
                login.room,
                f"You are signed in as {person.identity}, who is not invited to room {login.room}.",
            )
        page, grants = "/", set(DEFAULT_GRANTS)
        if login.purpose == "caption":
            if not person.captioner:
                return self._back(
                    login.room,
                    f"You are signed in as {person.identity}, who is not a captioner.",
                    CAPTIONER_PAGE,
                )
            page, grants = CAPTIONER_PAGE, set(CAPTIONER_GRANTS)
        grants |= {Grant.REVIEW} if person.reviewer else set()
        grants |= {Grant.CAPTION} if person.captioner else set()
        claims = RoomClaims(
            identity=person.identity,
            name=person.name,
            room=login.room,
            grants=frozenset(grants),
            issued_at=now,
            expires=now + self.oidc.config.token_ttl,
        )
        token = self.issuer.mint(claims)
        expired = f"{LOGIN_COOKIE}=; Path=/auth/; HttpOnly; SameSite=Lax; Max-Age=0"
        return redirect(f"{page}?room={login.room}#token={quote(token)}", expired)

    def _reviewer(self, person: SignedIn, now: float) -> Response:
        assert self.oidc is not None
        if not person.reviewer:
            return self._back(
                None, f"You are signed in as {person.identity}, who is not a reviewer."
            )
        ttl = self.oidc.config.token_ttl
        claims = RoomClaims(
            identity=person.identity,
            name=person.name,
            room="*",
            grants=frozenset({Grant.REVIEW}),
            issued_at=now,
            expires=now + ttl,
        )
        reply = redirect(
            "/review/", f"{LOGIN_COOKIE}=; Path=/auth/; HttpOnly; SameSite=Lax; Max-Age=0"
        )
        reply.headers["Set-Cookie"] = (
            f"{REVIEW_COOKIE}={self.issuer.mint(claims)}; Path=/; HttpOnly; SameSite=Lax; "
            f"Max-Age={int(ttl)}"
        )
        return reply

    def _back(self, room: str | None, sentence: str, page: str = "/") -> Response:
        """Back to the page, which shows the sentence (a fragment, like the token)."""
        page = f"{page}?room={room}" if room else page
        expired = f"{LOGIN_COOKIE}=; Path=/auth/; HttpOnly; SameSite=Lax; Max-Age=0"
        return redirect(f"{page}#signin-error={quote(sentence)}", expired)

    async def _mint(self, headers: Headers, query: str) -> Response:
        if self.mint_token is None:
            return error(HTTPStatus.NOT_FOUND, "not-found", "minting is off (--mint-token)")
        scheme, _, given = headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            return error(HTTPStatus.UNAUTHORIZED, "unauthorized", "Authorization: Bearer needed")
        if not hmac.compare_digest(given.strip().encode(), self.mint_token.encode()):
            return error(HTTPStatus.FORBIDDEN, "forbidden", "invalid mint credential")
        names = {"room", "identity", "name", "ttl", "grant"}
        values = parameters(query, names, frozenset({"grant"}))
        claims = self._claims(values)
        token = self.issuer.mint(claims)
        body = {"token": token, "expires": claims.expires, "room": claims.room}
        if "*" not in claims.room:
            body["url"] = invitation(self._base_url(), claims.room, token)
        return json_response(HTTPStatus.OK, body)

    def _claims(self, values: dict[str, list[str]]) -> RoomClaims:
        now = self._clock()
        try:
            ttl = duration(values.get("ttl", ["2h"])[0])
            grants = parse_grants(values["grant"]) if "grant" in values else DEFAULT_GRANTS
        except (argparse.ArgumentTypeError, AccessConfigError) as exc:
            raise BadParameters(str(exc)) from None
        if ttl > self.max_ttl:
            raise BadParameters(f"ttl is longer than {self.max_ttl:.0f} s")
        identity = values.get("identity", [""])[0]
        try:
            return RoomClaims(
                identity=identity,
                name=values.get("name", [identity[:64]])[0],
                room=values.get("room", [""])[0],
                grants=grants,
                issued_at=now,
                expires=now + ttl,
            )
        except ValueError as exc:
            raise BadParameters(str(exc)) from None
