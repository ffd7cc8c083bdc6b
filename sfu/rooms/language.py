"""The language a room is captioned in, from what its participants asked for at `join`.

A participant's `join.language` is a BCP 47 tag; the engine works on its primary subtag
("fr-CA" asks for "fr"). A room's language is the one most of its present participants asked
for; a tie goes to the language of whoever of them joined first. Nobody asked (or everyone who
did has left): None, and the engine detects the language. Participants who did not say count for
no language: a room of one "fr" and three silent choices is French.

When nobody present chose, the operator's defaults apply before detection: the room's rule in the
rooms file (`language` in a `[[room]]` rule), else the deployment's (`--language`). Participants'
choices always win.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from access.tokens import room_matches


class UnsupportedLanguage(ValueError):
    """A participant asked for a language the engine cannot caption."""


def primary(language: str) -> str:
    """The primary subtag of a BCP 47 tag, lower case: what Whisper and Kyutai name languages by."""
    return language.split("-", 1)[0].lower()


def chosen(language: str | None, supported: Sequence[str]) -> str | None:
    """What one participant's `join.language` asks of the engine; `UnsupportedLanguage` when the
    engine cannot caption it."""
    if language is None:
        return None
    code = primary(language)
    if code not in supported:
        raise UnsupportedLanguage(
            f"language {language!r} is not one the caption engine supports "
            f"({len(supported)} are: see joined.languages or GET /healthz)"
        )
    return code


def room_language(asked: Sequence[str | None]) -> str | None:
    """The room's language from its present participants' choices, in the order they joined."""
    votes = Counter(language for language in asked if language is not None)
    if not votes:
        return None
    most = max(votes.values())
    return next(language for language in asked if language is not None and votes[language] == most)


@dataclass(frozen=True)
class LanguageDefaults:
    """The operator's languages for rooms whose participants chose none."""

    deployment: str | None = None  # --language
    rooms: tuple[tuple[str, str], ...] = ()  # (room name or pattern, language): the first match

    def for_room(self, room: str) -> str | None:
        for pattern, language in self.rooms:
            if room_matches(pattern, room):
                return language
        return self.deployment

    def unsupported(self, supported: Iterable[str]) -> list[str]:
        """The configured languages the engine cannot caption."""
        known = set(supported)
        named = [self.deployment] if self.deployment else []
        named += [language for _, language in self.rooms]
        return [language for language in named if primary(language) not in known]
