from captioner.lines import break_lines, fits


def test_break_lines_greedy_at_spaces() -> None:
    text = "It was the best of times, it was the worst of times, it was the age of wisdom"
    lines = break_lines(text)
    assert all(len(line) <= 42 for line in lines)
    assert " ".join(lines) == text
    assert lines[0] == "It was the best of times, it was the worst"


def test_overlong_word_is_split() -> None:
    assert break_lines("x" * 50) == ["x" * 42, "x" * 8]


def test_fits_two_lines() -> None:
    assert fits("short")
    assert fits("a" * 42 + " " + "b" * 42)
    assert not fits("a" * 42 + " " + "b" * 42 + " c")
