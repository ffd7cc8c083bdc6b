"""Human captions: the values of protocol v1's human-captioner extension (docs/protocol-notes.md).

A professional captioner (CART) types lines that reach every participant as `caption` messages
marked `"source": "human"`. A v1 client that does not know the field shows them as ordinary final
captions, which is safe: the text is right, only the mark is lost. The room's mode says whether
human captions replace the automatic ones or come beside them; each participant may choose
otherwise with a `caption-sources` message on the `captions` channel, and `status.human` tells
them the room's mode, whether a captioner is active, and their choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from .errors import ErrorCode, ProtocolError
from .fields import Fields

MAX_CAPTIONER_NAME = 64


class CaptionSource(StrEnum):
    AUTOMATIC = "automatic"  # the speech-to-text engine; the wire omits `source` for these
    HUMAN = "human"  # a human captioner


class HumanMode(StrEnum):
    """How a room shows human captions while a captioner is active."""

    INSTEAD = "instead"  # the automatic captions are not shown (they are still logged)
    BESIDE = "beside"  # both


class CaptionChoice(StrEnum):
    """Which captions one participant sees."""

    ROOM = "room"  # as the room's mode says
    HUMAN = "human"  # human ones, and automatic ones only while no captioner is active
    AUTOMATIC = "automatic"  # automatic ones only
    BOTH = "both"


def enum_field(f: Fields, key: str, kind: type[StrEnum]) -> Any:
    """A string field that must be one of `kind`'s values."""
    value = f.string(key)
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(v.value for v in kind)
        raise f.fail(f"field {key!r} must be one of {allowed}") from None


@dataclass(frozen=True)
class HumanStatus:
    """`status.human`: the room's mode, whether a captioner is active now (a line in the last
    30 s), and this participant's choice."""

    mode: HumanMode
    active: bool
    show: CaptionChoice

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "active": self.active, "show": self.show.value}

    @classmethod
    def from_fields(cls, f: Fields) -> HumanStatus:
        return cls(
            enum_field(f, "mode", HumanMode),
            f.boolean("active"),
            enum_field(f, "show", CaptionChoice),
        )


@dataclass(frozen=True)
class CaptionSources:
    """Client → server on the `captions` channel (a v1 extension): which captions to receive."""

    TYPE: ClassVar[str] = "caption-sources"
    show: CaptionChoice

    def to_json(self) -> dict[str, Any]:
        return {"show": self.show.value}

    @classmethod
    def from_fields(cls, f: Fields) -> CaptionSources:
        return cls(enum_field(f, "show", CaptionChoice))


def check_source(source: CaptionSource, captioner: str | None, ref: str) -> None:
    if captioner is not None and source is not CaptionSource.HUMAN:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "only a human caption names a captioner", ref)
