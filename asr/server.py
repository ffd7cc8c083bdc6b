"""The server end of one ASR stream, sans I/O.

    WAITING ──admitted()──▶ SERVING ──bad frame / finish()──▶ CLOSED
       └──────refused()──────────────────────────────────────▶ CLOSED

Fed the client's frames (`receive`) and the engine's results (`transcribed`), it returns the
audio to hand to the engine and queues the frames to send (`data_to_send`). It counts samples, so
word times are on the stream's own clock (ASR-PROTOCOL.md, "Timing") and a `Marker` is echoed
once the engine has processed every sample received before it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

import numpy as np

from .errors import AsrProtocolError, AsrStateError
from .messages import (
    FRAME_SAMPLES,
    MAX_FRAME_BYTES,
    SAMPLE_RATE,
    Audio,
    EndWord,
    Error,
    Init,
    Marker,
    OggOpus,
    Pause,
    Ready,
    Revise,
    ServerMessage,
    Step,
    Tentative,
    TimedWord,
    Word,
    decode_client,
    encode,
)

NO_FREE_CHANNELS = "no free channels"  # Kyutai's text: clients match it to try another server


class ServerState(Enum):
    WAITING = "waiting"
    SERVING = "serving"
    CLOSED = "closed"


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    extensions: bool = False  # the client asked for our extension (docs/asr-protocol-notes.md)
    max_frame_bytes: int = MAX_FRAME_BYTES


@dataclass(frozen=True)
class AudioIn:
    """Audio for the engine: `start` in stream seconds."""

    start: float
    pcm: np.ndarray


class AsrServerSession:
    """One client's stream on our caption server."""

    def __init__(self, options: ServerOptions | None = None) -> None:
        self.options = options or ServerOptions()
        self.state = ServerState.WAITING
        self.error: str | None = None  # why the session closed, when it was the client's fault
        self.received = 0  # samples received
        self.processed = 0  # samples the engine has processed
        self._markers: deque[tuple[int, int]] = deque()  # (samples before it, id)
        self._steps = 0
        self._out: list[bytes] = []
        self._language: str | None = None

    # --- admission -------------------------------------------------------------------------------

    def admitted(self) -> None:
        self._expect(ServerState.WAITING)
        self.state = ServerState.SERVING
        self._send(Ready())

    def refused(self) -> None:
        self._expect(ServerState.WAITING)
        self._fail(NO_FREE_CHANNELS)

    def finish(self) -> None:
        self.state = ServerState.CLOSED

    # --- from the client -------------------------------------------------------------------------

    def receive(self, frame: bytes) -> list[AudioIn]:
        """A binary frame from the client; a bad one queues an `Error` and closes the session."""
        if self.state is ServerState.CLOSED:
            return []
        try:
            message = decode_client(frame, self.options.max_frame_bytes)
        except AsrProtocolError as exc:
            self._fail(str(exc))
            return []
        if isinstance(message, Audio):
            start = self.received / SAMPLE_RATE
            self.received += len(message.pcm)
            return [AudioIn(start, message.pcm)] if len(message.pcm) else []
        if isinstance(message, Marker):
            self._markers.append((self.received, message.id))
            self._echo_markers()
        elif isinstance(message, OggOpus):
            self._fail("OggOpus is not supported by this server; send Audio (24 kHz float PCM)")
        else:
            assert isinstance(
                message, Init
            )  # accepted and ignored, as Kyutai's batched server does
        return []

    # --- from the engine -------------------------------------------------------------------------

    def transcribed(
        self,
        *,
        committed: tuple[TimedWord, ...] = (),
        tentative: tuple[TimedWord, ...] = (),
        revision: Revise | None = None,
        end_of_utterance: bool = False,
        language: str | None = None,
        audio_end: float,
    ) -> None:
        """What one engine step made of this stream; `audio_end` in stream seconds."""
        if self.state is not ServerState.SERVING:
            return
        if revision is not None and self.options.extensions:
            self._send(revision)
        for word in committed:
            confidence = word.confidence if self.options.extensions else None
            self._send(Word(word.text, word.start_time, confidence))
            self._send(EndWord(word.stop_time))
        if self.options.extensions:
            self._send(Tentative(tentative))
            if end_of_utterance:
                self._send(Pause(audio_end, language))
        self.processed = min(self.received, max(self.processed, round(audio_end * SAMPLE_RATE)))
        while (self._steps + 1) * FRAME_SAMPLES <= self.processed:
            self._steps += 1
            self._send(Step(self._steps - 1, (), self.received - self.processed))
        self._echo_markers()

    # --- out -------------------------------------------------------------------------------------

    def data_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    @property
    def close_requested(self) -> bool:
        return self.state is ServerState.CLOSED

    def _echo_markers(self) -> None:
        while self._markers and self._markers[0][0] <= self.processed:
            self._send(Marker(self._markers.popleft()[1]))

    def _send(self, message: ServerMessage) -> None:
        self._out.append(encode(message))

    def _fail(self, message: str) -> None:
        self.error = message
        self._send(Error(message))
        self.state = ServerState.CLOSED

    def _expect(self, state: ServerState) -> None:
        if self.state is not state:
            raise AsrStateError(f"the session is {self.state.value}, not {state.value}")
