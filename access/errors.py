"""The exceptions of `access` (the tree is drawn in the package docstring)."""

from __future__ import annotations


class AccessError(Exception):
    """Root of every error of this package."""


class InvalidToken(AccessError):
    """The token cannot be trusted or is outside its validity: the wire's `unauthorized`."""


class Forbidden(AccessError):
    """The credential is valid but does not give this room or this grant: `forbidden`."""


class AccessConfigError(AccessError):
    """A key, room rule or OIDC setting the operator must fix; raised at start, never at join."""


class SignInFailed(AccessError):
    """The identity provider's answer (state, code exchange, ID token) could not be trusted."""
