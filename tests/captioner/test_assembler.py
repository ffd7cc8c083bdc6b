from captioner.assembler import CaptionAssembler
from captioner.engine import Revision, StreamUpdate
from captioner.lines import fits
from protocol import Speaker, Word

ADA = Speaker("p-1", "Ada")
BOB = Speaker("p-2", "Bob")


def ws(text: str, start: float) -> tuple[Word, ...]:
    return tuple(
        Word(w, start + i * 0.3, start + i * 0.3 + 0.25) for i, w in enumerate(text.split())
    )


def assembler(speaker_at=lambda s, e: ADA) -> CaptionAssembler:
    return CaptionAssembler("standup", "standup#1", speaker_at)


def test_partial_then_final_with_increasing_revisions() -> None:
    a = assembler()
    first = a.feed(StreamUpdate("s", (), ws("we shipped", 1.0)))
    second = a.feed(StreamUpdate("s", ws("we shipped", 1.0), ws("the build.", 1.6)))
    third = a.feed(StreamUpdate("s", ws("the build.", 1.6), ()))
    updates = first + second + third
    assert [(c.rev, c.final, c.text) for c in updates] == [
        (0, False, "we shipped"),
        (1, False, "we shipped the build."),
        (2, True, "we shipped the build."),
    ]
    final = updates[-1]
    assert final.speaker == ADA and final.language is None
    assert final.start == 1.0 and final.end == final.words[-1].end
    assert len({c.segment for c in updates}) == 1


def test_sentence_end_closes_the_segment() -> None:
    a = assembler()
    out = a.feed(StreamUpdate("s", ws("Try again. Fail better.", 0.0), ()))
    finals = [c for c in out if c.final]
    assert [c.text for c in finals] == ["Try again.", "Fail better."]
    assert finals[0].segment != finals[1].segment


def test_pause_closes_the_segment() -> None:
    a = assembler()
    a.feed(StreamUpdate("s", ws("no matter", 0.0), ()))
    out = a.feed(StreamUpdate("s", (), (), end_of_utterance=True))
    assert [(c.final, c.text) for c in out] == [(True, "no matter")]


def test_speaker_change_splits_segments() -> None:
    a = assembler(lambda start, end: ADA if start < 2.0 else BOB)
    out = a.feed(StreamUpdate("s", ws("hello there", 0.0) + ws("hi Ada", 2.0), ()))
    out += a.close()
    finals = [(c.speaker, c.text) for c in out if c.final]
    assert finals == [(ADA, "hello there"), (BOB, "hi Ada")]


def test_every_update_respects_the_line_rule() -> None:
    a = assembler()
    text = (
        "it was the best of times it was the worst of times it was the age of wisdom "
        "it was the age of foolishness it was the epoch of belief"
    )
    out = []
    committed = ws(text, 0.0)
    for i in range(0, len(committed), 3):
        out += a.feed(StreamUpdate("s", committed[i : i + 3], committed[i + 3 : i + 9]))
    out += a.close()
    assert all(fits(c.text) for c in out)
    assert " ".join(c.text for c in out if c.final) == text


def test_vanished_tentative_text_closes_empty() -> None:
    a = assembler()
    shown = a.feed(StreamUpdate("s", (), ws("thank you", 5.0)))
    out = a.feed(StreamUpdate("s", (), (), end_of_utterance=True))
    assert shown[0].text == "thank you"
    assert [(c.final, c.text, c.segment) for c in out] == [(True, "", shown[0].segment)]
    assert out[0].start == shown[0].start and out[0].words == ()


def test_unknown_speaker_is_null() -> None:
    a = assembler(lambda s, e: None)
    out = a.feed(StreamUpdate("s", ws("hello.", 0.0), ()))
    assert out[-1].speaker is None


def test_a_revision_corrects_the_open_segment_before_its_final() -> None:
    a = assembler()
    out = a.feed(StreamUpdate("s", ws("so asked not what", 0.0), ()))
    out += a.feed(StreamUpdate("s", ws("you", 1.2), revision=Revision(3, ws("ask not what", 0.3))))
    out += a.feed(StreamUpdate("s", ws("can.", 1.5), ()))
    assert [(c.final, c.text) for c in out] == [
        (False, "so asked not what"),
        (False, "so ask not what you"),
        (True, "so ask not what you can."),
    ]
    assert [w.text for w in out[-1].words] == ["so", "ask", "not", "what", "you", "can."]


def test_a_revision_never_changes_a_closed_segment() -> None:
    a = assembler()
    out = a.feed(StreamUpdate("s", ws("Fail again.", 0.0), ()))
    out += a.feed(StreamUpdate("s", ws("Fail", 0.6), ()))
    # Reaches back past the open segment's one word into the closed "Fail again.".
    out += a.feed(StreamUpdate("s", (), revision=Revision(2, ws("again. Fell", 0.3))))
    out += a.close()
    finals = [c.text for c in out if c.final]
    assert finals == ["Fail again.", "Fail"]


def test_a_revised_segment_still_respects_the_line_rule() -> None:
    a = assembler()
    long = "we will review the quarterly numbers with every team on"
    out = a.feed(StreamUpdate("s", ws(f"{long} friday", 0.0), ()))
    longer = "the first Friday of the coming month"
    out += a.feed(StreamUpdate("s", ws("at noon", 5.2), revision=Revision(1, ws(longer, 3.0))))
    out += a.close()
    assert all(fits(c.text) for c in out)
    finals = " ".join(c.text for c in out if c.final)
    assert finals == f"{long} {longer} at noon"


def test_a_turns_first_committed_word_names_the_segment_its_tentative_words_opened() -> None:
    """Tentative words spanning the last speaker's end and the new one's start opened the segment
    under the last speaker; the new speaker's first committed word must not be finalised under
    that name (issue 20, item 6: "Thank" under Bob where Ada said "Thank you.")."""
    a = assembler(lambda start, end: BOB if start < 1.0 else ADA)
    shown = a.feed(StreamUpdate("s", (), (Word("and", 0.6, 0.9), Word("Thank", 1.0, 1.2))))
    assert shown[-1].speaker == BOB  # the tentative span's dominant speaker, for now
    out = a.feed(StreamUpdate("s", (Word("Thank", 1.0, 1.2), Word("you.", 1.2, 1.5)), ()))
    [final] = [c for c in out if c.final]
    assert (final.text, final.speaker) == ("Thank you.", ADA)
