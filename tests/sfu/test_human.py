"""Human captions in one room, sans I/O: lines to captions, sequence numbers, the room's mode and
each participant's choice, the fallback to automatic captions when the captioner falls idle."""

import pytest

from captioner.lines import fits
from protocol import Caption, CaptionChoice, HumanMode, Word
from sfu.rooms.human import (
    IDLE_SECONDS,
    MAX_CAPTIONERS,
    HumanCaptions,
    Line,
    SequenceConflict,
    TooManyCaptioners,
)


def automatic(segment: str, final: bool, at: float = 1.0) -> Caption:
    word = Word("hello", at, at + 0.2, 0.9)
    return Caption("r", segment, 0, final, None, at, at + 0.2, "hello", (word,), "en")


def test_a_line_becomes_captions_that_fit_and_a_retry_shows_nothing_again() -> None:
    human = HumanCaptions("r", "r#1")
    text = " ".join(["captioning"] * 20)  # 219 characters: 7 lines of 3 words
    accepted, captions = human.take("cy@x", "Cy", Line(4, text), "en", now=10.0)
    assert accepted.segments == tuple(c.segment for c in captions) and len(captions) == 4
    assert all(fits(c.text) and c.human and c.final and c.words == () for c in captions)
    assert " ".join(c.text for c in captions) == text
    assert captions[0].end == 10.0 and captions[0].start < 10.0 and captions[0].language == "en"
    again, shown = human.take("cy@x", "Cy", Line(4, text), "en", now=11.0)
    assert (again.duplicate, again.segments, shown) == (True, accepted.segments, [])
    with pytest.raises(SequenceConflict):
        human.take("cy@x", "Cy", Line(4, "another text"), "en", now=12.0)
    late, shown = human.take("cy@x", "Cy", Line(2, "late"), None, now=13.0)
    assert late.late and [c.text for c in shown] == ["late"]
    # Another captioner's numbers are their own.
    other, shown = human.take("di@x", "Di", Line(4, "mine"), None, now=14.0)
    assert not other.duplicate and shown[0].segment != captions[0].segment


def test_captioners_per_room_are_bounded() -> None:
    human = HumanCaptions("r", "r#1")
    for n in range(MAX_CAPTIONERS):
        human.take(f"c{n}", "C", Line(0, "x"), None, now=1.0)
    with pytest.raises(TooManyCaptioners):
        human.take("one-more", "C", Line(0, "x"), None, now=1.0)


def test_instead_hides_new_automatic_captions_while_active_and_finishes_those_on_screen() -> None:
    human = HumanCaptions("r", "r#1")
    assert human.status("p1", 0.0) is None  # a v1 room: status stays as PROTOCOL.md shows it
    assert human.shows("p1", automatic("a-0", False), 0.0)  # on p1's screen from now on
    _, [line] = human.take("cy", "Cy", Line(1, "Hello."), None, now=5.0)
    assert human.changed(5.0)
    assert human.shows("p1", line, 5.0)
    assert human.shows("p1", automatic("a-0", True), 5.1)  # finished where it was shown
    assert not human.shows("p1", automatic("a-1", False), 5.2)
    assert not human.shows("p1", automatic("a-1", True), 5.3)
    status = human.status("p1", 6.0)
    assert status is not None and status.active and status.mode is HumanMode.INSTEAD
    # Idle: the automatic captions come back by themselves.
    assert human.shows("p1", automatic("a-2", True), 5.0 + IDLE_SECONDS)
    assert human.changed(5.0 + IDLE_SECONDS) and not human.changed(5.0 + IDLE_SECONDS)


@pytest.mark.parametrize(
    ("mode", "choice", "automatic_shown", "human_shown"),
    [
        (HumanMode.INSTEAD, CaptionChoice.ROOM, False, True),
        (HumanMode.BESIDE, CaptionChoice.ROOM, True, True),
        (HumanMode.BESIDE, CaptionChoice.HUMAN, False, True),
        (HumanMode.INSTEAD, CaptionChoice.AUTOMATIC, True, False),
        (HumanMode.INSTEAD, CaptionChoice.BOTH, True, True),
    ],
)
def test_each_participant_sees_what_they_chose(
    mode: HumanMode, choice: CaptionChoice, automatic_shown: bool, human_shown: bool
) -> None:
    human = HumanCaptions("r", "r#1", mode)
    human.choose("p1", choice)
    _, [line] = human.take("cy", "Cy", Line(1, "Hello."), None, now=1.0)
    assert human.shows("p1", line, 1.0) is human_shown
    assert human.shows("p1", automatic("a-5", True), 1.5) is automatic_shown
    status = human.status("p1", 1.0)
    assert status is not None and status.show is choice
    human.forget("p1")
    assert human.status("p1", 1.0) is not None  # the room has a captioner: everyone is told
