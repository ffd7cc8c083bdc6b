"""A room's language from its participants' choices."""

import pytest

from sfu.rooms.language import UnsupportedLanguage, chosen, room_language


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
