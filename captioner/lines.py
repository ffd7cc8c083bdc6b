"""The subtitle line rule: at most 2 lines of at most 42 characters on screen (BBC, Netflix and
EBU-TT guidance for Latin scripts)."""

from __future__ import annotations

LINE_WIDTH = 42
MAX_LINES = 2


def break_lines(text: str, width: int = LINE_WIDTH) -> list[str]:
    """Greedy line breaking at spaces; a word longer than a line is split."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        while len(word) > width:
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:width])
            word = word[width:]
        if not current:
            current = word
        elif len(current) + 1 + len(word) <= width:
            current = f"{current} {word}"
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines


def fits(text: str, width: int = LINE_WIDTH, max_lines: int = MAX_LINES) -> bool:
    return len(break_lines(text, width)) <= max_lines
