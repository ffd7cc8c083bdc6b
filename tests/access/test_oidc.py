"""ID-token checks of single sign-on, with the provider's discovery document and JWKS served by
httpx's MockTransport (a real HTTP exchange in memory; the whole flow against a real provider
is tests/integration/test_sign_in_browser.py)."""

import asyncio
import base64
import hashlib
import hmac
import json

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from access.config import OidcConfig
from access.errors import SignInFailed
from access.oidc import OidcClient

ISSUER = "https://idp.example.org"
NOW = 1_800_000_000
PROVIDER_KEY = RSAKey.generate_key(2048, parameters={"kid": "p1"})


def serve(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/.well-known/openid-configuration":
        return httpx.Response(
            200,
            json={
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/authorize",
                "token_endpoint": f"{ISSUER}/token",
                "jwks_uri": f"{ISSUER}/jwks",
            },
        )
    if request.url.path == "/jwks":
        return httpx.Response(200, json=KeySet([PROVIDER_KEY]).as_dict(private=False))
    return httpx.Response(404)


def client() -> OidcClient:
    config = OidcConfig(
        issuer=ISSUER,
        client_id="livecaptions",
        client_secret="s",
        reviewer_value="reviewers",
    )
    return OidcClient(config, httpx.AsyncClient(transport=httpx.MockTransport(serve)))


def id_token(**changes: object) -> str:
    claims: dict[str, object] = {
        "iss": ISSUER,
        "aud": "livecaptions",
        "sub": "ada",
        "name": "Ada",
        "iat": NOW,
        "exp": NOW + 300,
        "nonce": "n-1",
        "groups": ["reviewers"],
    }
    claims.update(changes)
    return jwt.encode({"alg": "RS256", "kid": "p1"}, claims, PROVIDER_KEY)


def check(token: str, nonce: str = "n-1") -> dict:
    async def run() -> dict:
        oidc = client()
        try:
            return await oidc._check_id_token(token, nonce, NOW)
        finally:
            await oidc.close()

    return asyncio.run(run())


def test_a_good_id_token_and_who_it_names() -> None:
    claims = check(id_token())
    person = client()._signed_in(claims)
    assert (person.identity, person.name, person.reviewer) == ("ada", "Ada", True)
    assert client()._signed_in({"sub": "bob", "groups": "staff"}).reviewer is False


@pytest.mark.parametrize(
    ("token", "nonce"),
    [
        (id_token(nonce="replayed"), "n-1"),
        (id_token(aud="another-client"), "n-1"),
        (id_token(iss="https://evil.example.org"), "n-1"),
        (id_token(exp=NOW - 3600), "n-1"),
    ],
    ids=["nonce", "audience", "issuer", "expired"],
)
def test_claims_that_do_not_match_the_sign_in_are_refused(token: str, nonce: str) -> None:
    with pytest.raises(SignInFailed, match="claims are invalid"):
        check(token, nonce)


def test_an_hmac_signed_with_the_providers_public_key_is_refused() -> None:
    """Algorithm confusion: HS256 keyed with the public key anyone can fetch from the JWKS."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "kid": "p1"}).encode())
    body = b64(json.dumps({"iss": ISSUER, "aud": "livecaptions", "sub": "mallory"}).encode())
    public = PROVIDER_KEY.as_pem(private=False)
    mac = hmac.new(public, f"{header}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(SignInFailed, match="signature is invalid"):
        check(f"{header}.{body}.{b64(mac)}")


def test_a_discovery_document_of_another_issuer_is_refused() -> None:
    def lying(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"issuer": "https://elsewhere.example.org"})

    async def run() -> None:
        oidc = OidcClient(client().config, httpx.AsyncClient(transport=httpx.MockTransport(lying)))
        try:
            await oidc.begin("room", "http://127.0.0.1:1/auth/callback", NOW)
        finally:
            await oidc.close()

    with pytest.raises(SignInFailed, match="names issuer"):
        asyncio.run(run())


def test_the_authorization_url_carries_state_nonce_and_an_s256_challenge() -> None:
    async def run() -> str:
        oidc = client()
        try:
            return await oidc.begin("standup", "http://127.0.0.1:1/auth/callback", NOW)
        finally:
            await oidc.close()

    url = httpx.URL(asyncio.run(run()))
    params = dict(url.params)
    assert str(url).startswith(f"{ISSUER}/authorize?")
    assert params["response_type"] == "code" and params["code_challenge_method"] == "S256"
    assert {"state", "nonce", "code_challenge", "client_id", "redirect_uri"} <= set(params)
    assert "code_verifier" not in params  # the verifier stays here until the code exchange
