"""Local agreement of successive hypotheses (Macháček et al., "Turning Whisper into Real-Time
Transcription System", 2023): a word becomes final once two consecutive decodes of the growing
audio buffer agree on it and on everything before it.

Each hypothesis transcribes the whole buffer, so it starts with the words already committed from
that buffer. They are matched by text, not by time: word times from cross-attention alignment are
approximate (the last word of a window tends to stretch to the window's end), and a time filter
would drop the words that follow it.
"""

from __future__ import annotations

import difflib
import re
import zlib
from collections.abc import Sequence

from captioner.engine import Revision
from protocol import Word

_NON_WORD = re.compile(r"[^\w']+")
SENTENCE_END = (".", "?", "!")
TRAILING_OFF = "..."  # Whisper's mark of a sentence it has not heard the end of: no sentence end


def ends_sentence(word: Word) -> bool:
    return word.text.endswith(SENTENCE_END) and not word.text.endswith(TRAILING_OFF)


MATCH_WORDS = 3  # committed words compared to find where the new words begin
MIN_WORD_SECONDS = 0.08  # spoken words take longer than this, on average, even fast ones
SEARCH_RADIUS = 2  # how far the model's re-transcription of committed words may drift in count
# A revision changes at most this many committed words in a row, and at most a third of them:
# more is a different reading of the audio (or a hypothesis gone astray), not a corrected guess.
MAX_REVISED_RUN = 3

# One change of the committed words: committed[start:end] are heard as `heard` (normalised).
_Change = tuple[int, int, tuple[str, ...]]


def normalize(text: str) -> str:
    """The comparable form of a word: case, punctuation and spacing do not count as disagreement."""
    return _NON_WORD.sub("", text.lower())


def cut_repetition(words: Sequence[Word], *, max_phrase: int = 12, pile: int = 3) -> list[Word]:
    """Cut a hypothesis where greedy decoding starts to loop.

    Two signs, both of text that no audio supports, checked in this order: words aligned to one
    instant (the alignment does that when the text runs past what was said: often a copy of the
    sentence just heard) — more than `pile` of them, or `pile` with the words after them not
    advancing in time (a small pile followed by words spread out like speech is only an alignment
    glitch), or two at the very end — then a phrase of two or more words
    immediately repeated ("ask not to ask not to"), which speech almost never does. Of a repeated
    phrase the first copy stays when it is spread over time like speech and the second is not;
    otherwise both go: the first is no better supported than the second."""
    words = list(words)
    i = 0
    while i < len(words):
        end = i
        while end + 1 < len(words) and words[end + 1].start == words[i].start:
            end += 1
        size = end - i + 1
        after = words[end + 1 : end + 1 + pile]
        stalled = not after or after[-1].end - words[i].start < MIN_WORD_SECONDS * pile
        if size > pile or (size == pile and stalled) or (size >= 2 and not after):
            words = words[:i]
            break
        i = end + 1
    heard = [normalize(w.text) for w in words]
    for i in range(len(words)):
        for n in range(2, max_phrase + 1):
            if i + 2 * n <= len(words) and heard[i : i + n] == heard[i + n : i + 2 * n]:
                first, second = words[i : i + n], words[i + n : i + 2 * n]
                keep = _spoken(first) and not _spoken(second)
                return words[: i + n] if keep else words[:i]
    return words


def _spoken(run: Sequence[Word]) -> bool:
    """True when a run of words spans as much time as speech would."""
    return run[-1].end - run[0].start >= MIN_WORD_SECONDS * len(run)


def compression_ratio(text: str) -> float:
    """Whisper's loop detector: highly repetitive text compresses well (> 2.4 is a loop)."""
    data = text.encode()
    return len(data) / max(1, len(zlib.compress(data)))


class LocalAgreement:
    """The committed/tentative split of the transcript of one audio buffer.

    `depth` hypotheses in a row must agree on a word to commit it: 2 is the paper's
    LocalAgreement-2; 3 waits one decode more (measured: no better here, docs/engine.md).

    Committed words still in the buffer are heard again by every decode, with more context
    after them. When two hypotheses in a row hear a committed word differently in the same way
    ("asked not" committed, then "ask not" twice once the sentence went on), the committed words
    are revised (`Revision`): the same agreement that committed them corrects them. Only short,
    anchored changes count (`MAX_REVISED_RUN`, a committed word unchanged after them)."""

    def __init__(self, depth: int = 2) -> None:
        if depth < 2:
            raise ValueError("agreement needs at least two hypotheses")
        self.depth = depth
        self.committed: list[Word] = []  # committed words whose audio is still in the buffer
        self._previous: list[Word] = []
        self._older: list[list[Word]] = []  # earlier tentative runs, newest last (depth > 2)
        self._proposed: set[_Change] = set()  # changes of committed words the last decode heard
        self.revision: Revision | None = None  # what the last insert revised

    @property
    def tentative(self) -> tuple[Word, ...]:
        return tuple(self._previous)

    def insert(
        self,
        hypothesis: Sequence[Word],
        limit: int | None = None,
        *,
        settled: int | None = None,
    ) -> tuple[list[Word], list[Word]]:
        """Take a new hypothesis of the buffer; return (newly committed words, tentative words).
        `limit`: the hypothesis's words from this index on may not be committed yet.
        `settled` (None: all): agreed words are committed whole sentences at a time, through the
        last agreed sentence end, except the hypothesis's first `settled` words, which commit
        on agreement alone. Why: the hypothesis that first reaches a sentence's end has heard all
        of it, and tiny.en revises a guess made early in a sentence ("asked not" → "ask not")
        once the rest of it is heard, after two decodes already agreed on the guess."""
        done = self._cut(hypothesis)
        self.revision = self._revise(hypothesis[:done])
        new = list(hypothesis[done:])
        if limit is not None:
            limit -= done
        runs = [*self._older, self._previous, new]
        agreed = 0
        if len(runs) >= self.depth:
            heard = [[normalize(w.text) for w in run] for run in runs[-self.depth :]]
            while all(len(h) > agreed for h in heard) and len({h[agreed] for h in heard}) == 1:
                agreed += 1
        if limit is not None:
            agreed = max(0, min(agreed, limit))
        if settled is not None:  # after `limit`: an unsure word holds back its whole sentence
            ends = [i + 1 for i, w in enumerate(new[:agreed]) if ends_sentence(w)]
            agreed = max(ends[-1] if ends else 0, min(agreed, settled - done))
        committed, tentative = new[:agreed], new[agreed:]
        self.committed.extend(committed)
        # Earlier runs keep only what follows the words just committed.
        keep = self.depth - 2
        older = [run[agreed:] for run in [*self._older, self._previous]]
        self._older = older[-keep:] if keep else []
        self._previous = tentative
        return committed, list(tentative)

    def commit_all(self, hypothesis: Sequence[Word]) -> list[Word]:
        """At a pause or the end of a stream: everything heard is final."""
        done = self._cut(hypothesis)
        self.revision = self._revise(hypothesis[:done])
        words = list(hypothesis[done:])
        self.committed.extend(words)
        self._previous = []
        self._older = []
        return words

    def forget(self, before: float | None = None) -> list[Word]:
        """The buffer was cut at `before` (None: entirely): drop and return the committed words
        no longer in it."""
        keep = [] if before is None else [w for w in self.committed if w.end > before]
        gone = self.committed[: len(self.committed) - len(keep)]
        self.committed = keep
        self._proposed = set()  # their indices moved
        if before is None:
            self._previous = []
            self._older = []
        return gone

    def _cut(self, hypothesis: Sequence[Word]) -> int:
        """How many of the hypothesis's first words are its reading of the committed words."""
        count = len(self.committed)
        if count == 0:
            return 0
        tail = [normalize(w.text) for w in self.committed[-MATCH_WORDS:]]
        heard = [normalize(w.text) for w in hypothesis]

        def score(cut: int) -> tuple[int, int]:
            window = heard[max(0, cut - len(tail)) : cut]
            matches = sum(a == b for a, b in zip(reversed(window), reversed(tail), strict=False))
            return matches, -abs(cut - count)

        candidates = range(
            max(0, count - SEARCH_RADIUS), min(len(heard), count + SEARCH_RADIUS) + 1
        )
        return max(candidates, key=score, default=len(heard))

    def _revise(self, reading: Sequence[Word]) -> Revision | None:
        """Revise the committed words where this reading of them and the last one agree."""
        old = [normalize(w.text) for w in self.committed]
        now = [normalize(w.text) for w in reading]
        matcher = difflib.SequenceMatcher(a=old, b=now, autojunk=False)
        changes: dict[_Change, tuple[int, int]] = {
            (i1, i2, tuple(now[j1:j2])): (j1, j2)
            for tag, i1, i2, j1, j2 in matcher.get_opcodes()
            # Anchored: a change at the very end may only be a misplaced cut between the
            # committed words and the new ones; it will be anchored once a word follows.
            if tag != "equal" and i2 < len(old) and max(i2 - i1, j2 - j1) <= MAX_REVISED_RUN
        }
        if sum(i2 - i1 for i1, i2, _ in changes) > max(MAX_REVISED_RUN, len(old) // 3):
            changes = {}
        agreed = sorted(change for change in changes if change in self._proposed)
        self._proposed = set(changes)
        if not agreed:
            return None
        revised: list[Word] = []
        position = 0
        for start, end, heard in agreed:
            j1, j2 = changes[(start, end, heard)]
            revised += [*self.committed[position:start], *reading[j1:j2]]
            position = end
        revised += self.committed[position:]
        first = agreed[0][0]
        replaces = len(self.committed) - first
        self.committed = revised
        self._proposed = set()  # indices moved
        return Revision(replaces, tuple(revised[first:]))
