"""The client end of one ASR stream, sans I/O.

    CONNECTING ──Ready──▶ SERVING ──Error / closed()──▶ CLOSED

It encodes what the client sends and turns the server's frames into events: a `Word` becomes a
`FinalWord` once its `EndWord` (or the next `Word`) tells where it ends; `Step` becomes `Progress`
(stream seconds processed). Works against any server of ASR-PROTOCOL.md; our extension's
`Tentative`, `Revise` and `Pause` pass through when the server sends them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from .errors import AsrProtocolError, AsrStateError
from .messages import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    Audio,
    EndWord,
    Error,
    Marker,
    Pause,
    Ready,
    Revise,
    Step,
    Tentative,
    TimedWord,
    Word,
    decode_server,
    encode,
)


class ClientState(Enum):
    CONNECTING = "connecting"
    SERVING = "serving"
    CLOSED = "closed"


@dataclass(frozen=True)
class Admitted:
    pass


@dataclass(frozen=True)
class FinalWord:
    word: TimedWord


@dataclass(frozen=True)
class Progress:
    processed: float  # stream seconds the server has processed


@dataclass(frozen=True)
class MarkerBack:
    id: int


@dataclass(frozen=True)
class Refused:
    message: str  # the server's Error text ("no free channels" when it is full)


ClientEvent = Admitted | FinalWord | Progress | MarkerBack | Refused | Tentative | Revise | Pause


class AsrClientSession:
    def __init__(self) -> None:
        self.state = ClientState.CONNECTING
        self.sent = 0  # samples sent
        self._word: Word | None = None  # the last Word, until its end is known

    def audio(self, pcm: np.ndarray) -> bytes:
        if self.state is ClientState.CLOSED:
            raise AsrStateError("the stream is closed")
        self.sent += len(pcm)
        return encode(Audio(np.asarray(pcm, np.float32)))

    def marker(self, marker_id: int) -> bytes:
        return encode(Marker(marker_id))

    def receive(self, frame: bytes) -> list[ClientEvent]:
        """One binary frame from the server; `AsrProtocolError` if it is not a valid message."""
        message = decode_server(frame)
        if isinstance(message, Ready):
            self.state = ClientState.SERVING
            return [Admitted()]
        if isinstance(message, Error):
            self.state = ClientState.CLOSED
            return [Refused(message.message)]
        if isinstance(message, Word):
            out = self._end_word(message.start_time)
            self._word = message
            return out
        if isinstance(message, EndWord):
            return self._end_word(message.stop_time)
        if isinstance(message, Step):
            return [Progress((message.step_idx + 1) * FRAME_SAMPLES / SAMPLE_RATE)]
        if isinstance(message, Marker):
            return [MarkerBack(message.id)]
        if isinstance(message, Revise):  # it may revise a word still waiting for its end
            return [*self._end_waiting_word(), message]
        if isinstance(message, Tentative | Pause):
            return [message]
        raise AsrProtocolError(f"unexpected {type(message).__name__}")

    def closed(self) -> list[ClientEvent]:
        """The connection ended: a word still waiting for its end is final as it is."""
        self.state = ClientState.CLOSED
        return self._end_waiting_word()

    def _end_waiting_word(self) -> list[ClientEvent]:
        """A word still waiting for its end is final as it is (ending where it starts)."""
        if self._word is None:
            return []
        return self._end_word(self._word.start_time)

    def _end_word(self, stop: float) -> list[ClientEvent]:
        word, self._word = self._word, None
        if word is None:
            return []
        end = max(stop, word.start_time)
        return [FinalWord(TimedWord(word.text, word.start_time, end, word.confidence))]
