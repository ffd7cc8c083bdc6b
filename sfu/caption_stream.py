"""One audio stream of a room on its way to the captioner: the room's mix (mixed mode) or one
participant's track (per-speaker mode), its engine slot, and the assembly of its captions."""

from __future__ import annotations

import logging
from enum import StrEnum

import numpy as np

from captioner.assembler import CaptionAssembler, SpeakerLookup
from captioner.engine import StreamUpdate
from captioner.errors import CapacityError
from captioner.scheduler import CaptionScheduler
from protocol import Caption

from .tap import RoomMixer

logger = logging.getLogger(__name__)


class CaptionMode(StrEnum):
    MIXED = "mixed"  # one stream per room: everyone's audio mixed, speaker by voice activity
    PER_SPEAKER = "per-speaker"  # one stream per participant: exact speakers, overlaps kept


class CaptionStream:
    def __init__(
        self,
        stream_id: str,
        room: str,
        speaker_at: SpeakerLookup,
        scheduler: CaptionScheduler,
        start: float,
    ) -> None:
        self.stream_id = stream_id
        self.assembler = CaptionAssembler(room, stream_id, speaker_at)
        self.admitted = False  # the engine gave it a slot
        self.finished = False  # its last step ran
        self._scheduler = scheduler
        self._mixer = RoomMixer(start)
        self._closed = False
        self.language: str | None = None  # asked of the engine; None: it detects
        self.admit(start)

    def admit(self, now: float) -> bool:
        """Ask the engine for a slot (again); audio mixed while it had none is not captioned."""
        if self.admitted or self._closed:
            return self.admitted
        try:
            self._scheduler.open_stream(self.stream_id, now)
        except CapacityError as exc:
            logger.warning("stream %s waits for a slot: %s", self.stream_id, exc)
            return False
        self.admitted = True
        if self.language is not None:
            self._scheduler.set_language(self.stream_id, self.language)
        return True

    def set_language(self, language: str | None) -> None:
        """Caption in `language` from now on (None: let the engine detect it)."""
        if language != self.language and self.admitted:
            self._scheduler.set_language(self.stream_id, language)
        self.language = language

    def add(self, start: float, pcm: np.ndarray) -> None:
        self._mixer.add(start, pcm)

    def pump(self, now: float) -> None:
        block = self._mixer.flush(now)
        if block is not None and self.admitted and not self._closed:
            self._scheduler.push(self.stream_id, block[0], block[1])

    @property
    def late_seconds(self) -> float:
        return self._mixer.late_seconds

    def close(self) -> None:
        """No more audio: the engine flushes the last words, then frees the slot."""
        if self._closed:
            return
        self._closed = True
        if self.admitted:
            self._scheduler.close_stream(self.stream_id)
        else:
            self.finished = True

    def feed(self, update: StreamUpdate) -> list[Caption]:
        return self.assembler.feed(update)

    def finish(self) -> list[Caption]:
        self.finished = True
        return self.assembler.close()
