"""What a room token allows, one grant per capability (LiveKit's video grants, as a list)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from .errors import AccessConfigError


class Grant(StrEnum):
    JOIN = "join"  # enter the room: hear the others, see who is there
    PUBLISH = "publish"  # send audio that is forwarded and captioned
    CAPTIONS = "captions"  # receive captions on the `captions` channel
    FLAG = "flag"  # flag a caption as wrong for the accessibility team
    REVIEW = "review"  # open /review/ and /api/ (the caption log)
    # Caption the room as a human captioner: the captioner page, and the API that takes lines
    # (with `join` and `captions`, the captioner also hears the room and sees its captions).
    CAPTION = "caption"


# What a participant gets unless the minter says otherwise: everything but reviewing and
# captioning.
DEFAULT_GRANTS = frozenset({Grant.JOIN, Grant.PUBLISH, Grant.CAPTIONS, Grant.FLAG})
# What a human captioner needs: hear the room, see its captions, send lines (no microphone).
CAPTIONER_GRANTS = frozenset({Grant.JOIN, Grant.CAPTIONS, Grant.CAPTION})


def parse_grants(names: Iterable[str]) -> frozenset[Grant]:
    """Grant names as an operator or a backend writes them; an unknown name is an error."""
    grants = set()
    for name in names:
        try:
            grants.add(Grant(name))
        except ValueError:
            known = ", ".join(g.value for g in Grant)
            raise AccessConfigError(f"unknown grant {name!r}; one of {known}") from None
    return frozenset(grants)
