"""Word error rate: how far captions are from what was said (a reference text).

The one definition the project uses: the quality report's accuracy from reviewers' corrections,
the benchmarks and the tests all compute it here.
"""

from __future__ import annotations

import re

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
