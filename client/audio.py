"""Audio sources for test and load clients: a WAV played into a call at real-time pace."""

from __future__ import annotations

import asyncio
import fractions
import time
from pathlib import Path

import av
import numpy as np
import soundfile as sf
from aiortc import MediaStreamTrack

RATE = 48_000
FRAME = 960  # 20 ms


def load_audio(path: str | Path, rate: int = RATE) -> np.ndarray:
    """Any file libsndfile reads, as mono float32 at `rate` (resampled by libswresample)."""
    data, source_rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = np.ascontiguousarray(data.mean(axis=1), dtype=np.float32)
    if source_rate == rate:
        return mono
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    frame = av.AudioFrame.from_ndarray(mono[None, :], format="flt", layout="mono")
    frame.sample_rate = source_rate
    chunks = [f.to_ndarray()[0] for f in resampler.resample(frame)]
    chunks += [f.to_ndarray()[0] for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32)


class WavTrack(MediaStreamTrack):
    """Plays `samples` (48 kHz mono float32) in 20 ms frames at real-time pace, then silence.

    `started_at` is the unix time the first frame of the audio was handed to the sender;
    `play_offset` delays the audio's start by that many seconds of silence."""

    kind = "audio"

    def __init__(
        self,
        samples: np.ndarray,
        *,
        play_offset: float = 0.0,
        loop: bool = False,
        start: asyncio.Event | None = None,
    ) -> None:
        """`start`: silence is sent until it is set, so several tracks can start together."""
        super().__init__()
        self._start = start
        pad = np.zeros(round(play_offset * RATE), dtype=np.float32)
        pcm = np.clip(np.concatenate([pad, samples]), -1.0, 1.0)
        self._pcm = (pcm * 32767).astype(np.int16)
        self._repeat = loop  # not `_loop`: pyee's event emitter keeps its event loop there
        self._position = 0
        self._timestamp = 0
        self._t0: float | None = None
        self.started_at: float | None = None
        self.finished = asyncio.Event()

    @property
    def duration(self) -> float:
        return len(self._pcm) / RATE

    async def recv(self) -> av.AudioFrame:
        if self._t0 is None:
            self._t0 = time.monotonic()
        else:
            self._timestamp += FRAME
            wait = self._t0 + self._timestamp / RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        if self._start is not None and not self._start.is_set():
            return self._frame(np.zeros(FRAME, dtype=np.int16))
        if self.started_at is None:
            self.started_at = time.time()
        chunk = self._pcm[self._position : self._position + FRAME]
        self._position += FRAME
        if self._position >= len(self._pcm):
            if self._repeat:
                self._position = 0
            else:
                self.finished.set()
        if len(chunk) < FRAME:
            chunk = np.concatenate([chunk, np.zeros(FRAME - len(chunk), dtype=np.int16)])
        return self._frame(chunk)

    def _frame(self, chunk: np.ndarray) -> av.AudioFrame:
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._timestamp
        frame.time_base = fractions.Fraction(1, RATE)
        return frame
