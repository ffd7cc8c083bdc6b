"""One audio stream of a room on its way to the captioner: the room's mix (mixed mode) or one
participant's track (per-speaker mode), its handle on the captioning port, and the assembly of its
captions."""

from __future__ import annotations

import logging
from enum import StrEnum

import numpy as np

from captioner.assembler import CaptionAssembler, SpeakerLookup
from captioner.engine import StreamUpdate
from protocol import Caption
from sfu.captioning.port import CaptionHandle, CaptioningPort, CaptionSink
from sfu.media.tap import RoomMixer

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
        captioning: CaptioningPort,
        sink: CaptionSink,
        start: float,
    ) -> None:
        self.stream_id = stream_id
        self.assembler = CaptionAssembler(room, stream_id, speaker_at)
        self.finished = False  # its last step ran
        self._captioning = captioning
        self._sink = sink
        self._handle: CaptionHandle | None = None
        self.language: str | None = None  # asked of the captioner; None: it detects
        self._mixer = RoomMixer(start)
        self._closed = False
        self.admit(start)

    @property
    def admitted(self) -> bool:
        """A captioner serves it (or is being found for it)."""
        return self._handle is not None and not self._handle.waiting

    @property
    def degraded(self) -> bool:
        return self._handle is not None and self._handle.degraded

    def admit(self, now: float) -> bool:
        """Ask the captioner for a slot (again); audio mixed while it had none is not captioned."""
        if self._handle is None and not self._closed:
            self._handle = self._captioning.open_stream(self.stream_id, now, self._sink)
            if self._handle is not None and self.language is not None:
                self._handle.set_language(self.language)
        return self.admitted

    def set_language(self, language: str | None) -> None:
        """Caption in `language` from now on (None: let the captioner detect it)."""
        if language != self.language and self._handle is not None:
            self._handle.set_language(language)
        self.language = language

    def add(self, start: float, pcm: np.ndarray) -> None:
        self._mixer.add(start, pcm)

    def pump(self, now: float) -> None:
        block = self._mixer.flush(now)
        if block is not None and self._handle is not None and not self._closed:
            self._handle.push(block[0], block[1])

    @property
    def late_seconds(self) -> float:
        return self._mixer.late_seconds

    def close(self) -> None:
        """No more audio: the engine flushes the last words, then frees the slot."""
        if self._closed:
            return
        self._closed = True
        if self._handle is not None:
            self._handle.close()
        else:
            self.finished = True

    def feed(self, update: StreamUpdate) -> list[Caption]:
        return self.assembler.feed(update)

    def finish(self) -> list[Caption]:
        self.finished = True
        return self.assembler.close()
