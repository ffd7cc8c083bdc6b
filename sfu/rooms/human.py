"""Human captions in one room: a captioner's lines become captions, the room's mode and each
participant's choice say who sees which captions. Sans-I/O: room time is passed in.

A line is identified by its captioner and sequence number: the same number again with the same
text is a retry (acknowledged, not shown twice), with another text a conflict; a number lower than
one already shown is shown too (`late`), since a line is never lost. A line longer than a caption
is cut into captions that each fit 2 lines of 42 characters.

Automatic captions are hidden from a participant only while a captioner is active (a line in the
last `IDLE_SECONDS`): a captioner who drops out never leaves the room without captions. A segment
already on a participant's screen is always finished there.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from captioner.lines import MAX_LINES, break_lines
from protocol import Caption, CaptionChoice, CaptionSource, HumanMode, HumanStatus

IDLE_SECONDS = 30.0  # a captioner who sent nothing for this long is no longer active
MAX_CAPTIONERS = 32  # per room
SEQ_MEMORY = 1000  # the last sequence numbers remembered per captioner
READING_CPS = 15.0  # characters per second: a line's start is estimated from its length
MAX_STARTED = 64  # automatic segments in progress remembered per participant


class SequenceConflict(Exception):
    """A sequence number already used for another line."""


class TooManyCaptioners(Exception):
    pass


@dataclass(frozen=True)
class Line:
    """A captioner's line, as checked at the edge."""

    seq: int
    text: str
    language: str | None = None


@dataclass(frozen=True)
class Accepted:
    seq: int
    segments: tuple[str, ...]
    duplicate: bool = False  # a retry of a line already shown: nothing shown again
    late: bool = False  # shown after a line with a higher number


@dataclass
class _Captioner:
    index: int
    lines: OrderedDict[int, tuple[str, tuple[str, ...]]] = field(default_factory=OrderedDict)
    highest: int = -1


class HumanCaptions:
    """Owned by a room; `stream_id` makes its segment ids unique per server run."""

    def __init__(self, room: str, stream_id: str, mode: HumanMode = HumanMode.INSTEAD) -> None:
        self.room = room
        self.mode = mode
        self._prefix = f"{stream_id}-h"
        self._captioners: dict[str, _Captioner] = {}
        self._last_line: float | None = None  # room time
        self._last_end = 0.0
        self._choices: dict[str, CaptionChoice] = {}
        self._started: dict[str, set[str]] = {}  # participant → automatic segments it was sent
        self._was_active = False

    # --- the captioner's side ---------------------------------------------------------------

    def active(self, now: float) -> bool:
        return self._last_line is not None and now - self._last_line < IDLE_SECONDS

    @property
    def used(self) -> bool:
        """A captioner has sent a line in this room."""
        return self._last_line is not None

    def take(
        self, identity: str, name: str, line: Line, language: str | None, now: float
    ) -> tuple[Accepted, list[Caption]]:
        """The captions `line` makes; SequenceConflict, TooManyCaptioners."""
        captioner = self._captioner(identity)
        seen = captioner.lines.get(line.seq)
        if seen is not None:
            if seen[0] != line.text:
                raise SequenceConflict(f"seq {line.seq} was already used for another line")
            return Accepted(line.seq, seen[1], duplicate=True), []
        captions = self._captions(captioner, name, line, line.language or language, now)
        segments = tuple(c.segment for c in captions)
        captioner.lines[line.seq] = (line.text, segments)
        while len(captioner.lines) > SEQ_MEMORY:
            captioner.lines.popitem(last=False)
        late = line.seq < captioner.highest
        captioner.highest = max(captioner.highest, line.seq)
        self._last_line = now
        return Accepted(line.seq, segments, late=late), captions

    def _captioner(self, identity: str) -> _Captioner:
        captioner = self._captioners.get(identity)
        if captioner is None:
            if len(self._captioners) >= MAX_CAPTIONERS:
                raise TooManyCaptioners(f"at most {MAX_CAPTIONERS} captioners per room")
            captioner = self._captioners[identity] = _Captioner(len(self._captioners))
        return captioner

    def _captions(
        self, captioner: _Captioner, name: str, line: Line, language: str | None, now: float
    ) -> list[Caption]:
        lines = break_lines(line.text)
        parts = [" ".join(lines[i : i + MAX_LINES]) for i in range(0, len(lines), MAX_LINES)]
        # The text transcribes what was said while it was typed: about its reading time before.
        start = max(self._last_end, now - len(line.text) / READING_CPS)
        self._last_end = now
        return [
            Caption(
                room=self.room,
                segment=f"{self._prefix}{captioner.index}-{line.seq}-{k}",
                rev=0,
                final=True,
                speaker=None,
                start=min(start, now),
                end=now,
                text=part,
                words=(),  # a person's line has no word times
                language=language,
                source=CaptionSource.HUMAN,
                captioner=name,
            )
            for k, part in enumerate(parts)
        ]

    # --- the participants' side ----------------------------------------------------------------

    def choose(self, participant_id: str, choice: CaptionChoice) -> None:
        self._choices[participant_id] = choice

    def forget(self, participant_id: str) -> None:
        self._choices.pop(participant_id, None)
        self._started.pop(participant_id, None)

    def status(self, participant_id: str, now: float) -> HumanStatus | None:
        """What `status.human` tells the participant; None until the room had a captioner or the
        participant chose (a v1 room's status stays as PROTOCOL.md shows it)."""
        choice = self._choices.get(participant_id)
        if not self.used and choice is None:
            return None
        return HumanStatus(self.mode, self.active(now), choice or CaptionChoice.ROOM)

    def changed(self, now: float) -> bool:
        """Whether the captioner became active or idle since the last call."""
        active = self.active(now)
        changed, self._was_active = active != self._was_active, active
        return changed

    def shows(self, participant_id: str, caption: Caption, now: float) -> bool:
        """Whether `caption` goes to the participant."""
        choice = self._choices.get(participant_id, CaptionChoice.ROOM)
        if caption.human:
            return choice is not CaptionChoice.AUTOMATIC
        started = self._started.setdefault(participant_id, set())
        if caption.segment in started:  # on their screen already: finish it there
            if caption.final:
                started.discard(caption.segment)
            return True
        if self._hides_automatic(choice, now):
            return False
        if not caption.final and len(started) < MAX_STARTED:
            started.add(caption.segment)
        return True

    def _hides_automatic(self, choice: CaptionChoice, now: float) -> bool:
        if not self.active(now):
            return False
        if choice is CaptionChoice.ROOM:
            return self.mode is HumanMode.INSTEAD
        return choice is CaptionChoice.HUMAN
