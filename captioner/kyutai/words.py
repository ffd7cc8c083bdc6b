"""Words from a delayed-streams STT text stream, as Kyutai's own server assembles them.

Sans-I/O: fed one text token per model step with the room time of the audio frame that step
describes (the frame `delay_steps` before it), it returns the words that just completed. The text
stream is mostly pad (3); the end-of-padding token (0) announces a word; a word's SentencePiece
pieces follow one per step, the first starting with "▁". A word is complete when the stream goes
back to pad or to end-of-padding, or when the next word's first piece arrives; its start is the
time of its first piece and its end the time of the step that completed it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from protocol import Word

PAD = 3
END_OF_PADDING = 0
WORD_START = "\u2581"  # SentencePiece's word-start marker


@dataclass
class WordAssembler:
    """One stream's words. `piece` maps a token id to its SentencePiece piece."""

    piece: Callable[[int], str]
    _pieces: list[str] = field(default_factory=list)
    _start: float = 0.0
    _last: float = 0.0  # time of the last piece, the end of a word cut short by `flush`

    def feed(self, token: int, time: float) -> list[Word]:
        """One step's token, at `time` (room clock). Returns the words it completed."""
        if token in (PAD, END_OF_PADDING):
            return self._complete(time)
        text = self.piece(token)
        done = self._complete(time) if text.startswith(WORD_START) else []
        if not self._pieces:
            self._start = time
        self._pieces.append(text)
        self._last = time
        return done

    @property
    def pending(self) -> Word | None:
        """The word being spelled out, shown as tentative until it completes."""
        if not self._pieces:
            return None
        return Word(self._text(), self._start, max(self._start, self._last))

    def flush(self) -> list[Word]:
        """End of the stream: the word in progress is complete as it stands."""
        return self._complete(self._last)

    def _complete(self, time: float) -> list[Word]:
        if not self._pieces:
            return []
        text = self._text()
        word = Word(text, self._start, max(self._start, time))
        self._pieces = []
        return [word] if text else []

    def _text(self) -> str:
        return "".join(self._pieces).replace(WORD_START, "").strip()
