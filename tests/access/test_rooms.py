"""Room access levels and the join decision, on the sans-I/O core."""

import pytest

from access import (
    DEFAULT_GRANTS,
    Forbidden,
    Grant,
    InvalidToken,
    KeyRing,
    RoomClaims,
    SigningKey,
    TokenIssuer,
    TokenVerifier,
)
from access.admission import Gatekeeper
from access.errors import AccessConfigError
from access.oidc import PendingLogin, PendingLogins
from access.rooms import RoomAccess, RoomPolicy

NOW = 1_800_000_000.0
KEY = SigningKey("k", b"k" * 32)
RULES = """
default = "trusted"

[[room]]
name = "town-hall"
access = "public"

[[room]]
name = "board-*"
access = "restricted"
identities = ["alice"]
"""


def mint(identity: str, room: str) -> str:
    claims = RoomClaims(
        identity=identity, name=identity, room=room, issued_at=NOW, expires=NOW + 60
    )
    return TokenIssuer(KeyRing((KEY,))).mint(claims)


def gatekeeper() -> Gatekeeper:
    return Gatekeeper(TokenVerifier(KeyRing((KEY,))), RoomPolicy.from_toml(RULES))


def test_rules_first_match_and_default() -> None:
    policy = RoomPolicy.from_toml(RULES)
    assert policy.rule_for("town-hall").access is RoomAccess.PUBLIC
    assert policy.rule_for("board-q3").identities == {"alice"}
    assert policy.rule_for("elsewhere").access is RoomAccess.TRUSTED
    assert RoomPolicy.from_toml(RULES, RoomAccess.PUBLIC).default is RoomAccess.PUBLIC


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('default = "open"', "default must be one of"),
        ('[[room]]\nname = "a/b"\naccess = "public"', "room rule"),
        ('[[room]]\nname = "a"\naccess = "public"\nidentities = ["x"]', "need 'restricted'"),
        ('[[room]]\nname = "a"\naccess = "public"\ncolour = 1', "expected keys"),
        ("rooms = 1", "unknown keys"),
        ("default = ", "room rules"),
    ],
)
def test_bad_rules_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(AccessConfigError, match=says):
        RoomPolicy.from_toml(text)


def test_public_rooms_take_guests_and_tokens() -> None:
    guest = gatekeeper().admit("town-hall", "", "Guest", NOW)
    assert guest.identity is None and guest.name == "Guest" and guest.grants == DEFAULT_GRANTS
    assert gatekeeper().admit("town-hall", mint("bob", "*"), "x", NOW).identity == "bob"


def test_trusted_and_restricted_rooms() -> None:
    with pytest.raises(InvalidToken, match="is trusted"):
        gatekeeper().admit("standup", "", "Eve", NOW)
    assert gatekeeper().admit("standup", mint("bob", "standup"), "x", NOW).name == "bob"
    assert gatekeeper().admit("board-q3", mint("alice", "board-*"), "x", NOW).identity == "alice"
    with pytest.raises(Forbidden, match="does not list 'bob'"):
        gatekeeper().admit("board-q3", mint("bob", "board-q3"), "x", NOW)
    with pytest.raises(Forbidden, match="for room 'standup'"):
        gatekeeper().admit("board-q3", mint("alice", "standup"), "x", NOW)


def test_reviewer_needs_the_review_grant() -> None:
    with pytest.raises(Forbidden, match="'review'"):
        gatekeeper().reviewer(mint("bob", "*"), NOW)
    claims = RoomClaims(
        identity="rita",
        name="Rita",
        room="*",
        issued_at=NOW,
        expires=NOW + 60,
        grants=frozenset({Grant.REVIEW}),
    )
    token = TokenIssuer(KeyRing((KEY,))).mint(claims)
    assert gatekeeper().reviewer(token, NOW).identity == "rita"


def test_pending_sign_ins_are_taken_once_expire_and_are_bounded() -> None:
    logins = PendingLogins(limit=2)
    for state in ("a", "b", "c"):
        logins.add(PendingLogin(state, "n", "v" * 43, "room", expires=NOW + 60))
    assert logins.take("a", NOW) is None  # the oldest went beyond the bound
    assert logins.take("b", NOW) is not None and logins.take("b", NOW) is None
    assert logins.take("c", NOW + 61) is None
