"""Single sign-on: the OpenID Connect authorization-code flow with PKCE (RFC 7636), on Authlib's
OAuth 2 client (httpx) and joserfc (Authlib's JOSE library) for the ID token.

    begin(room)    discovery document (OIDC Discovery §4) → authorization URL with `state`,
                   `nonce` and an S256 code challenge; the pending login is kept here, bounded
    finish(code)   the code and the PKCE verifier for tokens at the token endpoint; the ID token
                   checked against the issuer's JWKS (signature, asymmetric algorithms only,
                   `iss`, `aud`, `exp`, `iat`, `nonce`: OIDC Core §3.1.3.7) → who signed in

The only I/O of this package, on the event loop through httpx's asyncio client.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .config import OidcConfig
from .errors import SignInFailed

# Never HS*: an HMAC "signed" with the provider's public key must not pass (RFC 8725 §2.1).
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")
MAX_PENDING = 1000  # sign-ins in progress; the oldest is dropped beyond
HTTP_TIMEOUT = 10.0
LEEWAY = 30


@dataclass(frozen=True)
class PendingLogin:
    state: str
    nonce: str
    verifier: str  # the PKCE code verifier: never leaves this server until the code exchange
    room: str
    expires: float
    purpose: str = "join"  # what the person signs in for: "join", "review" or "caption"


@dataclass(frozen=True)
class SignedIn:
    identity: str  # the ID token's `sub`
    name: str
    reviewer: bool  # the reviewer claim holds the configured value
    captioner: bool = False  # the claim holds the captioners' value


class PendingLogins:
    """Sign-ins between our redirect to the provider and its callback, by `state`; each is
    taken once, and expires."""

    def __init__(self, limit: int = MAX_PENDING) -> None:
        self.limit = limit
        self._logins: OrderedDict[str, PendingLogin] = OrderedDict()

    def add(self, login: PendingLogin) -> None:
        self._logins[login.state] = login
        while len(self._logins) > self.limit:
            self._logins.popitem(last=False)

    def take(self, state: str, now: float) -> PendingLogin | None:
        login = self._logins.pop(state, None)
        return login if login is not None and login.expires > now else None


class OidcClient:
    def __init__(self, config: OidcConfig, http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self.pending = PendingLogins()
        self._http = http or httpx.AsyncClient(timeout=HTTP_TIMEOUT)
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    async def close(self) -> None:
        await self._http.aclose()

    async def begin(self, room: str, redirect_uri: str, now: float, purpose: str = "join") -> str:
        """The provider's authorization URL for a person who wants to join `room` (or review,
        or caption it: `purpose`)."""
        metadata = await self._discover()
        login = PendingLogin(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            verifier=secrets.token_urlsafe(48),  # RFC 7636 §4.1: 43-128 characters
            room=room,
            expires=now + self.config.login_ttl,
            purpose=purpose,
        )
        url, _ = self._oauth(redirect_uri).create_authorization_url(
            metadata["authorization_endpoint"],
            state=login.state,
            code_verifier=login.verifier,
            nonce=login.nonce,
        )
        self.pending.add(login)
        return url

    async def finish(
        self, code: str, login: PendingLogin, redirect_uri: str, now: float
    ) -> SignedIn:
        metadata = await self._discover()
        async with self._oauth(redirect_uri) as oauth:
            try:
                tokens = await oauth.fetch_token(
                    metadata["token_endpoint"], code=code, code_verifier=login.verifier
                )
            except Exception as exc:  # Authlib raises OAuthError, httpx its own: all refusals
                raise SignInFailed(f"the code exchange failed: {exc}") from None
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise SignInFailed("the provider returned no ID token")
        claims = await self._check_id_token(id_token, login.nonce, now)
        return self._signed_in(claims)

    def _oauth(self, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            scope=self.config.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=HTTP_TIMEOUT,
        )

    async def _discover(self) -> dict[str, Any]:
        if self._metadata is None:
            url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            metadata = await self._get_json(url)
            # OIDC Discovery §4.3: the document must name the issuer we asked.
            if metadata.get("issuer") != self.config.issuer.rstrip("/"):
                raise SignInFailed(
                    f"the discovery document names issuer {metadata.get('issuer')!r}"
                )
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(metadata.get(key), str):
                    raise SignInFailed(f"the discovery document has no {key}")
            self._metadata = metadata
        return self._metadata

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            reply = await self._http.get(url)
            reply.raise_for_status()
            value = reply.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SignInFailed(f"cannot read {url}: {exc}") from None
        if not isinstance(value, dict):
            raise SignInFailed(f"{url} is not a JSON object")
        return value

    async def _key_set(self, refresh: bool) -> KeySet:
        if self._keys is None or refresh:
            metadata = await self._discover()
            try:
                jwks: Any = await self._get_json(metadata["jwks_uri"])
                self._keys = KeySet.import_key_set(jwks)
            except (JoseError, ValueError, TypeError) as exc:
                raise SignInFailed(f"the provider's JWKS is unusable: {exc}") from None
        return self._keys

    async def _check_id_token(self, id_token: str, nonce: str, now: float) -> dict[str, Any]:
        try:
            token = jose_jwt.decode(id_token, await self._key_set(False), ID_TOKEN_ALGORITHMS)
        except JoseError:  # perhaps a key rotated at the provider: fetch its keys once more
            try:
                keys = await self._key_set(True)
                token = jose_jwt.decode(id_token, keys, ID_TOKEN_ALGORITHMS)
            except JoseError as exc:
                raise SignInFailed(f"the ID token's signature is invalid: {exc}") from None
        registry = jose_jwt.JWTClaimsRegistry(
            now=int(now),
            leeway=LEEWAY,
            iss={"essential": True, "value": self.config.issuer.rstrip("/")},
            aud={"essential": True, "value": self.config.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(token.claims)
        except JoseError as exc:
            raise SignInFailed(f"the ID token's claims are invalid: {exc}") from None
        return token.claims

    def _signed_in(self, claims: dict[str, Any]) -> SignedIn:
        identity = claims["sub"]
        if not isinstance(identity, str) or not 1 <= len(identity) <= 256:
            raise SignInFailed("the ID token's sub is not a string of 1-256 characters")
        name = next(
            (
                claims[key].strip()[:64]
                for key in ("name", "preferred_username", "email")
                if isinstance(claims.get(key), str) and claims[key].strip()
            ),
            identity[:64],
        )
        held = claims.get(self.config.reviewer_claim)
        values = held if isinstance(held, list) else [held]

        def member(value: str | None) -> bool:
            return value is not None and value in values

        return SignedIn(
            identity=identity,
            name=name,
            reviewer=member(self.config.reviewer_value),
            captioner=member(self.config.captioner_value),
        )
