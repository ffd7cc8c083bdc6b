"""Who may join which room, and who may review: signed room tokens with grants, room access
levels, and single sign-on through OpenID Connect.

    AccessError              a refusal or a configuration that cannot work
      InvalidToken           a token that is not ours, malformed, expired or not yet valid
                             (`unauthorized` on the wire)
      Forbidden              a valid token or a signed-in person without the room or the grant
                             (`forbidden` on the wire)
      AccessConfigError      keys, room rules or OIDC settings an operator must fix
      SignInFailed           the identity provider's answer could not be trusted

Everything but `oidc.py` is sans-I/O: time comes in as `now` (unix seconds).
"""

from .errors import AccessConfigError, AccessError, Forbidden, InvalidToken, SignInFailed
from .grants import CAPTIONER_GRANTS, DEFAULT_GRANTS, Grant
from .keys import KeyRing, SigningKey
from .tokens import RoomClaims, TokenIssuer, TokenVerifier

__all__ = [
    "CAPTIONER_GRANTS",
    "DEFAULT_GRANTS",
    "AccessConfigError",
    "AccessError",
    "Forbidden",
    "Grant",
    "InvalidToken",
    "KeyRing",
    "RoomClaims",
    "SignInFailed",
    "SigningKey",
    "TokenIssuer",
    "TokenVerifier",
]
