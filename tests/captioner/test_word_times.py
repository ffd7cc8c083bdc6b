"""Word times normalised where engines give them (issue 20, item 4)."""

import pytest

from captioner.word_times import in_time_order, is_in_time_order
from protocol import Caption, ProtocolError, Word


def test_a_word_placed_before_the_one_it_follows_moves_after_it() -> None:
    seen = [Word("Luna", 25.90, 25.90), Word("discovered", 25.86, 26.26)]
    assert in_time_order(seen) == (Word("Luna", 25.90, 25.90), Word("discovered", 25.90, 26.26))


def test_overlapping_neighbours_meet_where_the_second_starts() -> None:
    seen = [Word("ask", 1.0, 2.0), Word("not", 1.5, 2.5), Word("what", 2.2, 2.6)]
    fixed = in_time_order(seen)
    assert fixed == (Word("ask", 1.0, 1.5), Word("not", 1.5, 2.2), Word("what", 2.2, 2.6))
    assert is_in_time_order(fixed)


def test_words_in_order_are_kept_as_they_are() -> None:
    words = (Word("ask", 1.0, 1.2), Word("not", 1.2, 1.5))
    assert all(a is b for a, b in zip(in_time_order(words), words, strict=True))


def test_a_caption_out_of_time_order_is_refused() -> None:
    with pytest.raises(ProtocolError, match="starts before the word before it"):
        Caption(
            "R", "s-1", 0, True, None, 25.86, 26.26, "Luna discovered",
            (Word("Luna", 25.90, 25.90), Word("discovered", 25.86, 26.26)), "en",
        )  # fmt: skip
