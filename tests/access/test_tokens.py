"""Room tokens: every way a token can fail says so, and only the key's algorithm is accepted."""

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from access import Forbidden, Grant, InvalidToken, KeyRing, RoomClaims, SigningKey, TokenIssuer
from access.errors import AccessConfigError
from access.tokens import TokenVerifier, room_matches

NOW = 1_800_000_000.0
OLD = SigningKey("2026-10", b"o" * 32)
NEW = SigningKey("2026-11", b"n" * 32)


def claims(**changes: object) -> RoomClaims:
    values: dict[str, object] = {
        "identity": "ada@example.org",
        "name": "Ada",
        "room": "standup",
        "issued_at": NOW - 60,
        "expires": NOW + 3600,
    }
    values.update(changes)
    return RoomClaims(**values)  # type: ignore[arg-type]


def mint(key: SigningKey = NEW, **changes: object) -> str:
    return TokenIssuer(KeyRing((key,))).mint(claims(**changes))


def verifier(*keys: SigningKey) -> TokenVerifier:
    return TokenVerifier(KeyRing(keys or (NEW, OLD)))


def b64(value: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_a_valid_token_gives_its_identity_name_room_and_grants() -> None:
    got = verifier().verify(mint(grants=frozenset({Grant.JOIN})), NOW)
    assert (got.identity, got.name, got.room) == ("ada@example.org", "Ada", "standup")
    assert got.grants == {Grant.JOIN}
    assert got.opens("standup") and not got.opens("standup2")


def test_expired_and_not_yet_valid_tokens_are_refused_past_the_leeway() -> None:
    expired = mint(expires=NOW - 120)
    with pytest.raises(InvalidToken, match="expired 120 s ago"):
        verifier().verify(expired, NOW)
    assert verifier().verify(mint(expires=NOW - 10), NOW)  # within 30 s of leeway
    with pytest.raises(InvalidToken, match="not valid for another 600 s"):
        verifier().verify(mint(not_before=NOW + 600), NOW)
    with pytest.raises(InvalidToken, match="not valid"):
        verifier().verify(mint(issued_at=NOW + 600), NOW)


def test_a_wrong_signature_is_refused() -> None:
    forged = mint(SigningKey(NEW.kid, b"x" * 32))
    with pytest.raises(InvalidToken, match="bad signature for key '2026-11'"):
        verifier().verify(forged, NOW)
    head, _body, signature = mint().split(".")
    tampered = b64({**jwt.decode(mint(), options={"verify_signature": False}), "room": "*"})
    with pytest.raises(InvalidToken, match="bad signature"):
        verifier().verify(f"{head}.{tampered}.{signature}", NOW)


def test_an_unknown_kid_is_refused() -> None:
    with pytest.raises(InvalidToken, match="unknown key id 'elsewhere'"):
        verifier().verify(mint(SigningKey("elsewhere", b"n" * 32)), NOW)


def test_a_rotated_key_still_verifies_by_kid_until_removed() -> None:
    assert verifier(NEW, OLD).verify(mint(OLD), NOW).identity == "ada@example.org"
    assert verifier(NEW, OLD).verify(mint(NEW), NOW).identity == "ada@example.org"
    with pytest.raises(InvalidToken, match="unknown key id '2026-10'"):
        verifier(NEW).verify(mint(OLD), NOW)


def test_alg_none_is_refused() -> None:
    payload = jwt.decode(mint(), options={"verify_signature": False})
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': NEW.kid})}.{b64(payload)}."
    with pytest.raises(InvalidToken, match="algorithm 'none' refused"):
        verifier().verify(unsigned, NOW)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_algorithm_confusion_is_refused() -> None:
    payload = claims().to_payload()
    # Same secret, another HMAC: the key decides the algorithm, not the header.
    hs512 = jwt.encode(payload, NEW.secret, algorithm="HS512", headers={"kid": NEW.kid})
    with pytest.raises(InvalidToken, match="algorithm 'HS512' refused"):
        verifier().verify(hs512, NOW)
    # An RSA-signed token naming our kid: refused before any key is used.
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    rs256 = jwt.encode(payload, pem, algorithm="RS256", headers={"kid": NEW.kid})
    with pytest.raises(InvalidToken, match="algorithm 'RS256' refused"):
        verifier().verify(rs256, NOW)


def test_garbage_and_missing_claims_are_invalid_tokens() -> None:
    for bad in ("", "abc", "a.b.c", "x" * 5000):
        with pytest.raises(InvalidToken):
            verifier().verify(bad, NOW)
    no_room = {k: v for k, v in claims().to_payload().items() if k != "room"}
    token = jwt.encode(no_room, NEW.secret, algorithm="HS256", headers={"kid": NEW.kid})
    with pytest.raises(InvalidToken, match="room"):
        verifier().verify(token, NOW)
    other_audience = {**claims().to_payload(), "aud": "someone-else"}
    token = jwt.encode(other_audience, NEW.secret, algorithm="HS256", headers={"kid": NEW.kid})
    with pytest.raises(InvalidToken, match=r"(?i)audience"):
        verifier().verify(token, NOW)


def test_a_missing_grant_is_forbidden() -> None:
    got = verifier().verify(mint(grants=frozenset({Grant.JOIN})), NOW)
    with pytest.raises(Forbidden, match="'publish'"):
        got.require(Grant.PUBLISH, "sending audio")


def test_room_patterns() -> None:
    assert room_matches("team-*", "team-a") and room_matches("*", "anything")
    assert not room_matches("team-*", "teams") and not room_matches("standup", "standup-2")


def test_keys_refuse_short_secrets_duplicates_and_never_print_the_secret() -> None:
    with pytest.raises(AccessConfigError, match="at least 32 bytes"):
        SigningKey("k", b"short")
    with pytest.raises(AccessConfigError, match="duplicate"):
        KeyRing((NEW, NEW))
    assert "nnnn" not in repr(KeyRing((NEW,)))
    ring = KeyRing.parse(f"# newest first\n2026-11 {'n' * 32}\n\n2026-10 {'o' * 32}\n")
    assert ring.signing.kid == "2026-11" and ring.get("2026-10") == OLD
    with pytest.raises(AccessConfigError, match="line 1"):
        KeyRing.parse("lonely-kid\n")
