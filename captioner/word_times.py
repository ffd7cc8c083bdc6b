"""Word times a client can trust (PROTOCOL.md section 2): words in time order, each starting no
earlier than the word before it, ending no earlier than it starts, and not running past the next
word's start.

Cross-attention alignment gives approximate times: a word may be placed a little before the one it
follows ("Luna" 25.90-25.90 then "discovered" 25.86-26.26), and words of different decodes (a
revision's, a later hypothesis's) may overlap. WebVTT requires the timestamps inside a cue to
increase, so a word that starts before its predecessor is moved to the predecessor's start, and a
word that runs into its successor is ended where the successor starts.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

from protocol import Word


def in_time_order(words: Sequence[Word]) -> tuple[Word, ...]:
    """`words` with their times normalised; words already in order are returned as they are."""
    out: list[Word] = []
    for word in words:
        start, end = word.start, word.end
        if out:
            start = max(start, out[-1].start)
            previous = out[-1]
            if previous.end > start:  # it ran into this one: it ends where this one starts
                out[-1] = dataclasses.replace(previous, end=start)
        end = max(end, start)
        unchanged = (start, end) == (word.start, word.end)
        out.append(word if unchanged else dataclasses.replace(word, start=start, end=end))
    return tuple(out)


def is_in_time_order(words: Sequence[Word]) -> bool:
    return all(a.start <= b.start and a.end <= b.start for a, b in itertools.pairwise(words))
