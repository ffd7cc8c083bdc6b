"""Room access levels, as La Suite's Meet has them:

- public: anyone with the link joins, with or without a token;
- trusted: signed-in people only, i.e. anyone holding a valid room token for the room (minted
  after single sign-on, by `livecaptions token`, or by a trusted backend);
- restricted: only the identities listed for the room, with a valid token naming one of them.

Rules come from a TOML file (`--rooms FILE`); the first rule whose `name` (a room name or a
pattern with `*`) matches a room decides, the `default` level otherwise:

    default = "trusted"

    [[room]]
    name = "town-hall"
    access = "public"

    [[room]]
    name = "board-*"
    access = "restricted"
    identities = ["alice@example.org", "bob@example.org"]
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from .errors import AccessConfigError
from .tokens import ROOM_PATTERN, room_matches


class RoomAccess(StrEnum):
    PUBLIC = "public"
    TRUSTED = "trusted"
    RESTRICTED = "restricted"


@dataclass(frozen=True)
class RoomRule:
    name: str  # a room name or a pattern with `*`
    access: RoomAccess
    identities: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not ROOM_PATTERN.fullmatch(self.name):
            raise AccessConfigError(
                f"room rule {self.name[:80]!r}: 1-64 of [A-Za-z0-9_-], `*` as a wildcard"
            )
        if self.identities and self.access is not RoomAccess.RESTRICTED:
            raise AccessConfigError(f"room rule {self.name!r}: identities need 'restricted'")

    def admits(self, identity: str | None) -> bool:
        """Whether a person (None: not signed in, no token) may be in a room of this rule."""
        if self.access is RoomAccess.PUBLIC:
            return True
        if self.access is RoomAccess.TRUSTED:
            return identity is not None
        return identity in self.identities


@dataclass(frozen=True)
class RoomPolicy:
    default: RoomAccess = RoomAccess.TRUSTED
    rules: tuple[RoomRule, ...] = ()

    def rule_for(self, room: str) -> RoomRule:
        for rule in self.rules:
            if room_matches(rule.name, room):
                return rule
        return RoomRule(room, self.default)

    @classmethod
    def from_toml(cls, text: str, default: RoomAccess | None = None) -> RoomPolicy:
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise AccessConfigError(f"room rules: {exc}") from None
        unknown = set(document) - {"default", "room"}
        if unknown:
            raise AccessConfigError(f"room rules: unknown keys {sorted(unknown)}")
        level = default or _access(document.get("default", RoomAccess.TRUSTED.value), "default")
        rooms = document.get("room", [])
        if not isinstance(rooms, list):
            raise AccessConfigError("room rules: `room` must be an array of tables ([[room]])")
        return cls(level, tuple(_rule(entry, i) for i, entry in enumerate(rooms, 1)))

    @classmethod
    def from_file(cls, path: Path, default: RoomAccess | None = None) -> RoomPolicy:
        try:
            return cls.from_toml(path.read_text(encoding="utf-8"), default)
        except (OSError, UnicodeDecodeError) as exc:
            raise AccessConfigError(f"cannot read the room rules {path}: {exc}") from None


def _access(value: Any, where: str) -> RoomAccess:
    try:
        return RoomAccess(value)
    except ValueError:
        levels = ", ".join(a.value for a in RoomAccess)
        raise AccessConfigError(f"room rules: {where} must be one of {levels}") from None


def _rule(entry: Any, index: int) -> RoomRule:
    where = f"room rule {index}"
    if not isinstance(entry, dict) or set(entry) - {"name", "access", "identities"}:
        raise AccessConfigError(f"{where}: expected keys name, access, identities")
    name, identities = entry.get("name"), entry.get("identities", [])
    if not isinstance(name, str):
        raise AccessConfigError(f"{where}: `name` must be a string")
    if not isinstance(identities, list) or not all(isinstance(i, str) for i in identities):
        raise AccessConfigError(f"{where}: `identities` must be a list of strings")
    return RoomRule(name, _access(entry.get("access"), where), frozenset(identities))
