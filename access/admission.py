"""The join decision: who enters a room, under which name, with which grants. Sans-I/O."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Forbidden, InvalidToken
from .grants import DEFAULT_GRANTS, Grant
from .rooms import RoomAccess, RoomPolicy
from .tokens import RoomClaims, TokenVerifier


@dataclass(frozen=True)
class Admission:
    name: str
    grants: frozenset[Grant]
    identity: str | None = None  # None: a guest of a public room, without a token


class Gatekeeper:
    """Checks a join against the room's access level and the token it carries.

    Order: the token itself (`InvalidToken`), then the room and grants it gives and the room's
    list of identities (`Forbidden`). Expiry is checked here only: a meeting in progress goes on
    after its token expires."""

    def __init__(self, verifier: TokenVerifier, policy: RoomPolicy) -> None:
        self.verifier = verifier
        self.policy = policy

    def admit(self, room: str, token: str, name: str, now: float) -> Admission:
        rule = self.policy.rule_for(room)
        if not token:
            if rule.access is RoomAccess.PUBLIC:
                return Admission(name=name, grants=DEFAULT_GRANTS)
            raise InvalidToken(
                f"room {room!r} is {(rule.access or self.policy.default).value}: sign in or use "
                "an invitation"
            )
        claims = self.verifier.verify(token, now)
        if not claims.opens(room):
            raise Forbidden(f"the token is for room {claims.room!r}, not {room!r}")
        claims.require(Grant.JOIN, "joining a room")
        if not rule.admits(claims.identity):
            raise Forbidden(f"room {room!r} is restricted and does not list {claims.identity!r}")
        return Admission(name=claims.name, grants=claims.grants, identity=claims.identity)

    def captioner(self, token: str, room: str, now: float) -> RoomClaims:
        """The claims of a token that lets its bearer caption `room` (the `caption` grant, for
        that room); InvalidToken or Forbidden else."""
        claims = self.verifier.verify(token, now)
        if not claims.opens(room):
            raise Forbidden(f"the token is for room {claims.room!r}, not {room!r}")
        claims.require(Grant.CAPTION, "captioning a room")
        return claims

    def reviewer(self, token: str, now: float) -> RoomClaims:
        """The claims of a token that opens the caption log; InvalidToken or Forbidden else."""
        claims = self.verifier.verify(token, now)
        claims.require(Grant.REVIEW, "reviewing captions")
        return claims
