"""The access configuration of a server: one typed value, built by the CLI, passed in."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .keys import KeyRing
from .rooms import RoomPolicy
from .tokens import LEEWAY_SECONDS


@dataclass(frozen=True)
class OidcConfig:
    issuer: str  # the identity provider's URL; discovery at ISSUER/.well-known/openid-configuration
    client_id: str
    client_secret: str = field(repr=False)
    scopes: str = "openid profile email"
    # Reviewer access follows this claim of the ID token (a string or a list of strings)...
    reviewer_claim: str = "groups"
    # ...holding this value; None: nobody signs in as a reviewer.
    reviewer_value: str | None = None
    # Human captioners: the same claim holding this value; None: nobody signs in as one.
    captioner_value: str | None = None
    token_ttl: float = 8 * 3600  # of a room token given to a signed-in person
    login_ttl: float = 600  # how long a sign-in may take between our redirect and the callback


@dataclass(frozen=True, kw_only=True)
class AccessConfig:
    keys: KeyRing | None = None  # None (single sign-on only): a random key for this run
    key_file: Path | None = None  # where `keys` came from: re-read on SIGHUP (rotation)
    rooms: RoomPolicy = field(default_factory=RoomPolicy)
    leeway: float = LEEWAY_SECONDS
    mint_token: str | None = field(default=None, repr=False)  # a trusted backend's credential
    max_ttl: float = 7 * 24 * 3600  # the longest-lived token the mint endpoint signs
    oidc: OidcConfig | None = None
    public_url: str | None = None  # as browsers reach us, for sign-in redirects; None: our URL
