"""A room's language: its participants' choices, else the operator's default (rooms file, then
--language), else detected."""

from pathlib import Path

import pytest

from access.errors import AccessConfigError
from captioner.scheduler import SchedulerConfig
from protocol import Encoded, ParticipantInfo
from sfu.captioning.port import InProcessCaptioning
from sfu.cli import config_from_args, parse_args
from sfu.rooms.language import LanguageDefaults, UnsupportedLanguage, chosen, room_language
from sfu.rooms.room import Room

from ..captioner.test_scheduler import CountingEngine


def test_the_majority_of_those_who_chose_decides() -> None:
    assert room_language(["en", "fr", "fr", None]) == "fr"
    assert room_language([None, "fr", None, None]) == "fr"  # saying nothing is not a vote


def test_a_tie_goes_to_the_earliest_joiner_and_nobody_means_detect() -> None:
    assert room_language(["fr", "en", "en", "fr"]) == "fr"
    assert room_language(["en", "fr"]) == "en"
    assert room_language([None, None]) is None
    assert room_language([]) is None


def test_a_choice_is_its_primary_subtag_and_must_be_supported() -> None:
    assert chosen("fr-CA", ("en", "fr")) == "fr"
    assert chosen("EN", ("en", "fr")) == "en"
    assert chosen(None, ("en",)) is None
    with pytest.raises(UnsupportedLanguage, match="'de' is not one"):
        chosen("de", ("en", "fr"))


ROOMS = """
[[room]]
name = "london-*"
language = "en"

[[room]]
name = "board"
access = "public"
language = "de-AT"
"""


def test_the_operator_sets_defaults_by_room_then_for_the_deployment(tmp_path: Path) -> None:
    rooms = tmp_path / "rooms.toml"
    rooms.write_text(ROOMS)
    config = config_from_args(parse_args(["--language", "fr-FR", "--rooms", str(rooms)]))
    defaults = config.languages
    assert defaults.for_room("london-3") == "en"  # the rooms file's rule
    assert defaults.for_room("board") == "de"  # its primary subtag, as a join's
    assert defaults.for_room("paris") == "fr"  # --language
    assert LanguageDefaults().for_room("paris") is None  # neither: detected
    assert defaults.unsupported(("en", "fr")) == ["de"]
    # A file that sets access turns access control on; one that sets only languages does not.
    assert config.access is not None and config.access.rooms.rule_for("board").access == "public"
    rooms.write_text('[[room]]\nname = "london-*"\nlanguage = "en"\n')
    assert config_from_args(parse_args(["--rooms", str(rooms)])).access is None


def test_a_bad_language_stops_the_server_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--language", "français!"])
    rooms = tmp_path / "rooms.toml"
    rooms.write_text('[[room]]\nname = "x"\nlanguage = 3\n')
    with pytest.raises(AccessConfigError, match="`language` must be a string"):
        config_from_args(parse_args(["--rooms", str(rooms)]))
    rooms.write_text('[[room]]\nname = "x"\n')
    with pytest.raises(AccessConfigError, match="sets `access`, `language`, or both"):
        config_from_args(parse_args(["--rooms", str(rooms)]))


class Speaker:
    """What a room reads of a participant for its language (sfu.rooms.participant.Participant)."""

    def __init__(self, participant_id: str, language: str | None) -> None:
        self.id = self.name = participant_id
        self.language = language
        self.signaling = self
        self.batch_presence = False
        self.sent: list[object] = []

    def send(self, message: object) -> None:
        self.sent.append(message)

    def send_encoded(self, encoded: Encoded) -> None:
        self.sent.append(encoded.message)

    async def close(self) -> None:
        pass

    @property
    def info(self) -> ParticipantInfo:
        return ParticipantInfo(self.id, self.name)


class Events:
    def on_caption(self, *args: object) -> None: ...
    def on_speech(self, *args: object) -> None: ...
    def on_flag(self, *args: object) -> None: ...
    def on_done(self, *args: object) -> None: ...


@pytest.mark.asyncio
async def test_participants_choices_win_over_the_operators_default() -> None:
    captioning = InProcessCaptioning(CountingEngine, SchedulerConfig())
    await captioning.start()
    room = Room(
        name="paris",
        stream_id="paris#1",
        captioning=captioning,
        engine_name="counting",
        languages=("en", "fr"),
        events=Events(),
        default_language="fr",
    )
    try:
        assert room.language == "fr"  # nobody yet: the operator's
        room.add(Speaker("p-1", None))  # type: ignore[arg-type]
        assert room.language == "fr"  # saying nothing is no choice
        room.add(Speaker("p-2", "en"))  # type: ignore[arg-type]
        assert room.language == "en"  # a participant's choice wins
        room.participants.pop("p-2")
        room._update_language()
        assert room.language == "fr"  # back to the default once they left
    finally:
        await room.close()
        await captioning.stop()
