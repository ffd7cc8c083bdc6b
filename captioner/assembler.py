"""Caption assembly: engine word events → caption segments with revisions (protocol v1).

Sans-I/O and synchronous: fed the engine's updates for one stream, with a speaker lookup and the
room name, it returns the `Caption` updates to send. A segment is one caption on screen: it closes
(its `final` update) at the end of a sentence, at a pause, when the speaker changes, or when one
more word would break the line rule (2 lines of 42 characters). Until then each update carries the
segment's whole current text — committed words then tentative ones — and `rev` increases, and the
engine may still revise the segment's committed words (never those of a closed segment).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from captioner.engine import Revision, StreamUpdate
from captioner.lines import fits
from captioner.word_times import in_time_order
from protocol import Caption, Speaker, Word

SENTENCE_END = (".", "?", "!")

SpeakerLookup = Callable[[float, float], Speaker | None]


def text_of(words: list[Word] | tuple[Word, ...]) -> str:
    return " ".join(w.text for w in words)


@dataclass
class _Segment:
    id: str
    speaker: Speaker | None
    words: list[Word] = field(default_factory=list)
    rev: int = -1
    shown: str | None = None  # text of the last update sent
    span: tuple[float, float] = (0.0, 0.0)  # start and end of the last update sent


class CaptionAssembler:
    def __init__(self, room: str, stream_id: str, speaker_at: SpeakerLookup) -> None:
        self.room = room
        self._prefix = f"{stream_id}-"
        self._speaker_at = speaker_at
        self._count = 0
        self._segment: _Segment | None = None

    def feed(self, update: StreamUpdate) -> list[Caption]:
        out: list[Caption] = []
        language = update.language
        if update.revision is not None:
            self._revise(update.revision, language, out)
        for word in update.committed:
            self._add_committed(word, language, out)
        if update.end_of_utterance:
            self._close(language, out)
        self._show_tentative(list(update.tentative), language, out)
        return out

    def close(self, language: str | None = None) -> list[Caption]:
        """End of the stream: close the open segment."""
        out: list[Caption] = []
        self._close(language, out)
        return out

    # --- committed words ---------------------------------------------------------------------

    def _add_committed(self, word: Word, language: str | None, out: list[Caption]) -> None:
        speaker = self._speaker_at(word.start, word.end)
        segment = self._segment
        if segment is not None and segment.words:
            changed = speaker is not None and segment.speaker not in (None, speaker)
            if changed or not fits(f"{text_of(segment.words)} {word.text}"):
                self._close(language, out)
        segment = self._open(speaker)
        # A segment opened for tentative words took the speaker of their span, which at a turn
        # change may still hold the last speaker's words: its first committed word decides.
        if segment.speaker is None or (not segment.words and speaker is not None):
            segment.speaker = speaker
        segment.words.append(word)
        if word.text.endswith(SENTENCE_END):
            self._close(language, out)

    def _revise(self, revision: Revision, language: str | None, out: list[Caption]) -> None:
        """Correct committed words, only while they are all in the open segment: a final
        caption went to the log and to every screen, and is never changed."""
        segment = self._segment
        if segment is None or not 0 < revision.replaces <= len(segment.words):
            return
        del segment.words[-revision.replaces :]
        for word in revision.words:
            self._add_committed(word, language, out)

    def _open(self, speaker: Speaker | None) -> _Segment:
        if self._segment is None:
            self._segment = _Segment(f"{self._prefix}{self._count}", speaker)
            self._count += 1
        return self._segment

    def _close(self, language: str | None, out: list[Caption]) -> None:
        segment, self._segment = self._segment, None
        if segment is None or (not segment.words and segment.shown is None):
            return
        out.append(self._update(segment, segment.words, final=True, language=language))

    # --- tentative words ---------------------------------------------------------------------

    def _show_tentative(
        self, tentative: list[Word], language: str | None, out: list[Caption]
    ) -> None:
        segment = self._segment
        if segment is None and not tentative:
            return
        overflow = segment is not None and bool(tentative) and bool(segment.words)
        if segment is not None and overflow and not fits(text_of(segment.words + tentative)):
            self._close(language, out)
            segment = None
        if segment is None:
            segment = self._open(self._speaker_at(tentative[0].start, tentative[-1].end))
        # A long tentative run keeps its latest words: that is what is being said now.
        while len(tentative) > 1 and not fits(text_of(segment.words + tentative)):
            tentative = tentative[1:]
        words = segment.words + tentative
        if text_of(words) != segment.shown:
            out.append(self._update(segment, words, final=False, language=language))

    def _update(
        self, segment: _Segment, words: list[Word], *, final: bool, language: str | None
    ) -> Caption:
        segment.rev += 1
        text = text_of(words)
        segment.shown = text
        # Words from different decodes (a revision's and later ones) may overlap in time: every
        # caption carries them in time order (PROTOCOL.md), whatever their source.
        words = list(in_time_order(words))
        # A segment whose tentative words all vanished closes empty, over the span it showed.
        start = min((w.start for w in words), default=segment.span[0])
        end = max((w.end for w in words), default=segment.span[1])
        segment.span = (start, end)
        return Caption(
            room=self.room,
            segment=segment.id,
            rev=segment.rev,
            final=final,
            speaker=segment.speaker,
            start=start,
            end=end,
            text=text,
            words=tuple(words),
            language=language,
        )
