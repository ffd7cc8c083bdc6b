"""Room tokens for tests and benchmarks: one person's token for one room, signed with `keys`."""

from __future__ import annotations

import time

from access import Grant, KeyRing, RoomClaims, TokenIssuer


def room_token(
    keys: KeyRing, room: str, identity: str, grants: frozenset[Grant], ttl: float = 3600
) -> str:
    """`identity` named after itself (title-cased), valid from 5 s ago for `ttl` seconds."""
    now = time.time()
    claims = RoomClaims(
        identity=identity,
        name=identity.title(),
        room=room,
        grants=grants,
        issued_at=now - 5,
        expires=now + ttl,
    )
    return TokenIssuer(keys).mint(claims)
