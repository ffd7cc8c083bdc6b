"""Word assembly from a delayed-streams text stream (pure)."""

from captioner.kyutai.words import END_OF_PADDING, PAD, WordAssembler

PIECES = {10: "\u2581good", 11: "\u2581mor", 12: "ning", 13: "\u2581all", 14: "!"}


def feed(assembler: WordAssembler, tokens: list[int], step: float = 0.08) -> list:
    words = []
    for i, token in enumerate(tokens):
        words += assembler.feed(token, i * step)
    return words


def test_pieces_make_words_that_end_at_pad_or_at_the_next_word() -> None:
    assembler = WordAssembler(PIECES.__getitem__)
    tokens = [PAD, END_OF_PADDING, 10, 11, 12, PAD, PAD, END_OF_PADDING, 13, 14, PAD]
    words = feed(assembler, tokens)
    assert [w.text for w in words] == ["good", "morning", "all!"]
    good, morning, all_ = words
    assert (good.start, good.end) == (2 * 0.08, 3 * 0.08)  # ends when the next word starts
    assert (morning.start, morning.end) == (3 * 0.08, 5 * 0.08)  # ends at the pad
    assert all_.start == 8 * 0.08
    assert assembler.pending is None


def test_a_word_in_progress_is_pending_until_it_completes_or_is_flushed() -> None:
    assembler = WordAssembler(PIECES.__getitem__)
    assert feed(assembler, [END_OF_PADDING, 11, 12]) == []
    pending = assembler.pending
    assert pending is not None and pending.text == "morning"
    [word] = assembler.flush()
    assert word.text == "morning" and word.start <= word.end
    assert assembler.pending is None and assembler.flush() == []


def test_ids_without_a_piece_spell_nothing() -> None:
    assembler = WordAssembler(lambda token: PIECES.get(token, ""))
    assert [w.text for w in feed(assembler, [99, PAD, 10, 99, PAD])] == ["good"]
