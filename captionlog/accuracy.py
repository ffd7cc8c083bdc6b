"""Word error rate: how far captions are from what was said (a reference text).

The one definition the project uses: the quality report's accuracy from reviewers' corrections,
the benchmarks and the tests all compute it here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_NON_WORD = re.compile(r"[^\w' ]+|_")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "-": " "})


def normalize_text(text: str) -> str:
    """Lower case, no punctuation, single spaces: the form WER is computed on. Letters of every
    language count ("crêpes", "garçon"), and a typographic apostrophe is the plain one."""
    return " ".join(_NON_WORD.sub(" ", text.lower().translate(_APOSTROPHES)).split())


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(Levenshtein distance over words, reference length), after `normalize_text`: sums of
    these over many captions give a WER weighted by words, as NIST's sclite reports it."""
    ref, hyp = normalize_text(reference).split(), normalize_text(hypothesis).split()
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1], len(ref)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word errors / reference length (an empty reference counts as one word)."""
    errors, words = word_errors(reference, hypothesis)
    return errors / max(1, words)


def reference_per_caption(reference: str, captions: Sequence[str]) -> list[str]:
    """The words of `reference` (a transcript of what was said, as written) that each caption
    transcribes: the word alignment of minimum edit distance between the reference and the
    captions' words in order, each reference word going to the caption its aligned word is in (a
    word the captions missed, to the caption before it). Correcting each caption to its share
    gives the same word errors, summed, as `word_errors(reference, " ".join(captions))`.

    For reviewers with a transcript made afterwards (and the benchmark of accuracy measured from
    corrections): it turns the transcript into one correction per caption."""
    written = reference.split()
    ref: list[tuple[str, int]] = [  # normalized token, the written word it comes from
        (token, i) for i, word in enumerate(written) for token in normalize_text(word).split()
    ]
    hyp: list[tuple[str, int]] = [  # normalized token, its caption
        (token, k) for k, text in enumerate(captions) for token in normalize_text(text).split()
    ]
    owner: dict[int, int] = {}  # written word → its caption (by its first token)
    caption = 0  # of the last captioned token passed: where a missed word goes
    for i, j in _alignment([t for t, _ in ref], [t for t, _ in hyp]):
        if j is not None:
            caption = hyp[j][1]
        if i is not None:
            owner.setdefault(ref[i][1], caption)
    shares: list[list[str]] = [[] for _ in captions]
    last = 0
    for i, word in enumerate(written):
        last = owner.get(i, last)  # punctuation alone goes with the word before it
        if shares:
            shares[last].append(word)
    return [" ".join(words) for words in shares]


def _alignment(ref: list[str], hyp: list[str]) -> list[tuple[int | None, int | None]]:
    """A minimum-cost alignment: (ref index or None, hyp index or None) in order."""
    rows, cols = len(ref) + 1, len(hyp) + 1
    cost = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        cost[i][0] = i
    for j in range(cols):
        cost[0][j] = j
    for i in range(1, rows):
        for j in range(1, cols):
            cost[i][j] = min(
                cost[i - 1][j] + 1,
                cost[i][j - 1] + 1,
                cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]),
            )
    path: list[tuple[int | None, int | None]] = []
    i, j = rows - 1, cols - 1
    while i or j:
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            i, j = i - 1, j - 1
            path.append((i, j))
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            i -= 1
            path.append((i, None))
        else:
            j -= 1
            path.append((None, j))
    return path[::-1]
