"""Words and revisions from a caption server fold into one update that says the same."""

from hypothesis import given
from hypothesis import strategies as st

from captioner.engine import Revision
from protocol import Word
from sfu.captioning.remote import revised

WORD = st.builds(lambda i: Word(f"w{i}", 0.0, 0.0), st.integers(0, 999))
Step = tuple[tuple[int, tuple[Word, ...]] | None, tuple[Word, ...]]  # (Revise, Words)


def apply(transcript: list[Word], revision: Revision | None, committed: list[Word]) -> list[Word]:
    if revision is not None:
        transcript = [*transcript[: len(transcript) - revision.replaces], *revision.words]
    return [*transcript, *committed]


@st.composite
def server_steps(draw: st.DrawFn) -> tuple[list[Word], list[Step]]:
    """A transcript so far, then steps a server may send: each may revise up to every word."""
    transcript = draw(st.lists(WORD, min_size=1, max_size=6))
    length, steps = len(transcript), []
    for _ in range(draw(st.integers(1, 6))):
        revise = None
        if length and draw(st.booleans()):
            replaces = draw(st.integers(1, length))
            words = tuple(draw(st.lists(WORD, max_size=4)))
            revise, length = (replaces, words), length - replaces + len(words)
        committed = tuple(draw(st.lists(WORD, max_size=3)))
        steps.append((revise, committed))
        length += len(committed)
    return transcript, steps


@given(server_steps())
def test_folded_steps_change_the_transcript_as_the_steps_one_by_one(
    case: tuple[list[Word], list[Step]],
) -> None:
    transcript, steps = case
    one_by_one = transcript
    revision: Revision | None = None
    committed: list[Word] = []
    for revise, words in steps:
        step_revision = None if revise is None else Revision(*revise)
        one_by_one = apply(one_by_one, step_revision, list(words))
        if revise is not None:
            revision, committed = revised(revision, committed, *revise)
        committed += words
    assert apply(transcript, revision, committed) == one_by_one
    assert revision is None or revision.replaces <= len(transcript)
