"""Room tokens: JWTs (RFC 7519) signed HS256 with a key of the server's key ring, on PyJWT.

    header  {"alg": "HS256", "typ": "JWT", "kid": KEY_ID}
    claims  {"iss": "livecaptions", "aud": "livecaptions", "sub": IDENTITY, "name": NAME,
             "room": ROOM_OR_PATTERN, "grants": ["join", "publish", ...],
             "iat": UNIX, "nbf": UNIX, "exp": UNIX}

`room` is a room name, or a pattern where `*` stands for any run of room characters (`team-*`,
`*`). A token names the key that signed it by `kid`; one without `kid` is checked against the
signing key. The algorithm is the key's, whatever the header says: `none`, RS256 or HS512 headers
are refused before any signature check (RFC 8725 §2.1, §3.1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import jwt

from .errors import Forbidden, InvalidToken
from .grants import DEFAULT_GRANTS, Grant
from .keys import KeyRing, SigningKey

ISSUER = "livecaptions"
AUDIENCE = "livecaptions"
ROOM_PATTERN = re.compile(r"[A-Za-z0-9_*-]{1,64}")
MAX_IDENTITY_CHARS = 256
MAX_NAME_CHARS = 64
MAX_TOKEN_CHARS = 4096
LEEWAY_SECONDS = 30.0  # clock skew tolerated between the minter and this server


@dataclass(frozen=True)
class RoomClaims:
    identity: str  # `sub`
    name: str
    room: str  # a room name or a pattern with `*`
    expires: float
    issued_at: float
    not_before: float | None = None
    grants: frozenset[Grant] = field(default=DEFAULT_GRANTS)

    def __post_init__(self) -> None:
        if not ROOM_PATTERN.fullmatch(self.room):
            raise ValueError("room must be 1-64 of [A-Za-z0-9_-], with `*` as a wildcard")
        if not 1 <= len(self.identity) <= MAX_IDENTITY_CHARS:
            raise ValueError(f"identity must be 1-{MAX_IDENTITY_CHARS} characters")
        if not 1 <= len(self.name) <= MAX_NAME_CHARS or not self.name.strip():
            raise ValueError(f"name must be 1-{MAX_NAME_CHARS} characters, not all blank")

    def opens(self, room: str) -> bool:
        return room_matches(self.room, room)

    def require(self, grant: Grant, what: str) -> None:
        if grant not in self.grants:
            raise Forbidden(f"the token does not grant {grant.value!r} ({what})")

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": self.identity,
            "name": self.name,
            "room": self.room,
            "grants": sorted(g.value for g in self.grants),
            "iat": int(self.issued_at),
            "exp": int(self.expires),
        }
        if self.not_before is not None:
            payload["nbf"] = int(self.not_before)
        return payload


def room_matches(pattern: str, room: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, room) is not None


class TokenIssuer:
    """Signs room tokens with the ring's signing key."""

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    def mint(self, claims: RoomClaims) -> str:
        key = self.keys.signing
        return jwt.encode(
            claims.to_payload(), key.secret, algorithm=key.algorithm, headers={"kid": key.kid}
        )


class TokenVerifier:
    """Checks a room token: size, key by kid, algorithm, signature, audience, times, claims.
    Every failure is an InvalidToken that says which check failed."""

    def __init__(self, keys: KeyRing, leeway: float = LEEWAY_SECONDS) -> None:
        self.keys = keys  # replaced whole on rotation (a reload), never mutated
        self.leeway = leeway

    def verify(self, token: str, now: float) -> RoomClaims:
        key = self._key_of(token)
        payload = self._decode(token, key)
        self._check_times(payload, now)
        return _claims(payload)

    def _key_of(self, token: str) -> SigningKey:
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken(f"the token is longer than {MAX_TOKEN_CHARS} characters")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"not a room token: {exc}") from None
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("the token's kid is not a string")
        key = self.keys.signing if kid is None else self.keys.get(kid)
        if key is None:
            raise InvalidToken(f"unknown key id {str(kid)[:64]!r}")
        if header.get("alg") != key.algorithm:
            raise InvalidToken(
                f"algorithm {str(header.get('alg'))[:16]!r} refused: key {key.kid!r} "
                f"signs {key.algorithm}"
            )
        return key

    def _decode(self, token: str, key: SigningKey) -> dict[str, Any]:
        # Times are checked by `_check_times` against the `now` passed in.
        options: Any = {
            "require": ["sub", "room", "iat", "exp"],
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
        }
        try:
            return jwt.decode(
                token,
                key.secret,
                algorithms=[key.algorithm],
                audience=AUDIENCE,
                issuer=ISSUER,
                options=options,
            )
        except jwt.InvalidSignatureError:
            raise InvalidToken(f"bad signature for key {key.kid!r}") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"invalid token: {exc}") from None

    def _check_times(self, payload: dict[str, Any], now: float) -> None:
        for claim in ("iat", "exp", "nbf"):
            value = payload.get(claim)
            if claim in payload and (not isinstance(value, int | float) or isinstance(value, bool)):
                raise InvalidToken(f"claim {claim!r} must be a number (unix time)")
        if now > payload["exp"] + self.leeway:
            raise InvalidToken(f"the token expired {now - payload['exp']:.0f} s ago")
        not_before = max(payload["iat"], payload.get("nbf", payload["iat"]))
        if now + self.leeway < not_before:
            raise InvalidToken(f"the token is not valid for another {not_before - now:.0f} s")


def _claims(payload: dict[str, Any]) -> RoomClaims:
    grants = payload.get("grants", [])
    if not isinstance(grants, list) or not all(isinstance(g, str) for g in grants):
        raise InvalidToken("claim 'grants' must be a list of strings")
    name = payload.get("name", payload["sub"])
    if not isinstance(payload["sub"], str) or not isinstance(name, str):
        raise InvalidToken("claims 'sub' and 'name' must be strings")
    if not isinstance(payload["room"], str):
        raise InvalidToken("claim 'room' must be a string")
    known = {g.value for g in Grant}  # a grant of a later version is ignored, not refused
    try:
        return RoomClaims(
            identity=payload["sub"],
            name=name.strip() or payload["sub"],
            room=payload["room"],
            expires=payload["exp"],
            issued_at=payload["iat"],
            not_before=payload.get("nbf"),
            grants=frozenset(Grant(g) for g in grants if g in known),
        )
    except ValueError as exc:
        raise InvalidToken(f"invalid claims: {exc}") from None
