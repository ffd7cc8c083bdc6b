"""Room access levels, as La Suite's Meet has them:

- public: anyone with the link joins, with or without a token;
- trusted: signed-in people only, i.e. anyone holding a valid room token for the room (minted
  after single sign-on, by `livecaptions token`, or by a trusted backend);
- restricted: only the identities listed for the room, with a valid token naming one of them.

Rules come from a TOML file (`--rooms FILE`); the first rule whose `name` (a room name or a
pattern with `*`) matches a room and sets `access` decides, the `default` level otherwise. A rule
may also set the language the room is captioned in when none of its participants chose one
(`language`, a code the engine knows; the first matching rule that sets one decides), and a rule
may set only that:

    default = "trusted"

    [[room]]
    name = "town-hall"
    access = "public"
    language = "fr"

    [[room]]
    name = "london-*"
    language = "en"

    [[room]]
    name = "board-*"
    access = "restricted"
    identities = ["alice@example.org", "bob@example.org"]
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from .errors import AccessConfigError
from .tokens import ROOM_PATTERN, room_matches

LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")  # a BCP 47 tag's usual shape


class RoomAccess(StrEnum):
    PUBLIC = "public"
    TRUSTED = "trusted"
    RESTRICTED = "restricted"


@dataclass(frozen=True)
class RoomRule:
    name: str  # a room name or a pattern with `*`
    access: RoomAccess | None  # None: the rule sets only a language
    identities: frozenset[str] = frozenset()
    language: str | None = None  # captioned in it unless its participants choose one

    def __post_init__(self) -> None:
        if not ROOM_PATTERN.fullmatch(self.name):
            raise AccessConfigError(
                f"room rule {self.name[:80]!r}: 1-64 of [A-Za-z0-9_-], `*` as a wildcard"
            )
        if self.identities and self.access is not RoomAccess.RESTRICTED:
            raise AccessConfigError(f"room rule {self.name!r}: identities need 'restricted'")
        if self.language is not None and not LANGUAGE.fullmatch(self.language):
            raise AccessConfigError(
                f"room rule {self.name!r}: language {self.language[:20]!r} is not a language code"
            )

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
    explicit_default: bool = False  # the file said `default`

    def rule_for(self, room: str) -> RoomRule:
        for rule in self.rules:
            if rule.access is not None and room_matches(rule.name, room):
                return rule
        return RoomRule(room, self.default)

    def language_for(self, room: str) -> str | None:
        """The room's default language: the first matching rule's that sets one."""
        for rule in self.rules:
            if rule.language is not None and room_matches(rule.name, room):
                return rule.language
        return None

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(r.language for r in self.rules if r.language is not None)

    @property
    def sets_access(self) -> bool:
        """False for a file that only sets languages: it turns no access control on."""
        return self.explicit_default or any(r.access is not None for r in self.rules)

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
        rules = tuple(_rule(entry, i) for i, entry in enumerate(rooms, 1))
        return cls(level, rules, explicit_default="default" in document or default is not None)

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
    if not isinstance(entry, dict) or set(entry) - {"name", "access", "identities", "language"}:
        raise AccessConfigError(f"{where}: expected keys name, access, identities, language")
    name, identities = entry.get("name"), entry.get("identities", [])
    language = entry.get("language")
    if not isinstance(name, str):
        raise AccessConfigError(f"{where}: `name` must be a string")
    if not isinstance(identities, list) or not all(isinstance(i, str) for i in identities):
        raise AccessConfigError(f"{where}: `identities` must be a list of strings")
    if language is not None and not isinstance(language, str):
        raise AccessConfigError(f'{where}: `language` must be a string such as "fr"')
    if "access" not in entry and language is None:
        raise AccessConfigError(f"{where}: a rule sets `access`, `language`, or both")
    access = _access(entry["access"], where) if "access" in entry else None
    return RoomRule(name, access, frozenset(identities), language.lower() if language else None)
