"""The server's token keys: HMAC secrets named by `kid`, so that a secret can be rotated without
downtime (add the new key first, keep the old one until the tokens it signed have expired).

A key file holds one key per line, `KID SECRET`; the first key signs new tokens, every key
verifies. Blank lines and lines starting with `#` are ignored.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from .errors import AccessConfigError

ALGORITHM = "HS256"  # RFC 7518 §3.2: HMAC with SHA-256
MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: a key at least as long as the hash output
KID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
DEFAULT_KID = "default"  # the kid of a key given as a bare secret (--token-secret)


@dataclass(frozen=True, repr=False)
class SigningKey:
    kid: str
    secret: bytes
    algorithm: str = ALGORITHM

    def __post_init__(self) -> None:
        if not KID_PATTERN.fullmatch(self.kid):
            raise AccessConfigError(f"key id {self.kid[:80]!r} must be 1-64 of [A-Za-z0-9._-]")
        if len(self.secret) < MIN_SECRET_BYTES:
            raise AccessConfigError(
                f"key {self.kid!r}: a secret needs at least {MIN_SECRET_BYTES} bytes "
                f"(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )

    def __repr__(self) -> str:  # never print a secret, not even in a traceback
        return f"SigningKey(kid={self.kid!r}, algorithm={self.algorithm!r})"


@dataclass(frozen=True)
class KeyRing:
    """Keys by kid; `signing` (the first) signs, all verify."""

    keys: tuple[SigningKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise AccessConfigError("a key ring needs at least one key")
        kids = [k.kid for k in self.keys]
        if len(set(kids)) != len(kids):
            raise AccessConfigError(f"duplicate key ids in {kids}")

    @property
    def signing(self) -> SigningKey:
        return self.keys[0]

    def get(self, kid: str) -> SigningKey | None:
        return next((k for k in self.keys if k.kid == kid), None)

    @classmethod
    def from_secret(cls, secret: str, kid: str = DEFAULT_KID) -> KeyRing:
        return cls((SigningKey(kid, secret.encode()),))

    @classmethod
    def ephemeral(cls) -> KeyRing:
        """A random key for this run only (single sign-on without a configured secret)."""
        return cls((SigningKey(f"run-{secrets.token_hex(4)}", secrets.token_bytes(32)),))

    @classmethod
    def parse(cls, text: str, source: str = "key file") -> KeyRing:
        keys = []
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            kid, _, secret = line.partition(" ")
            if not secret.strip():
                raise AccessConfigError(f"{source} line {number}: expected `KID SECRET`")
            keys.append(SigningKey(kid, secret.strip().encode()))
        return cls(tuple(keys))

    @classmethod
    def from_file(cls, path: Path) -> KeyRing:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AccessConfigError(f"cannot read the key file {path}: {exc}") from None
        return cls.parse(text, str(path))
