"""Energy-based speech detection: so that silence never reaches the model and never becomes text.

A frame is speech when its level rises clearly above an adaptive noise floor (which falls at once to
quieter frames and rises slowly, so steady background noise is learned and speech is not) and above
an absolute floor. A short hangover keeps the gaps between words inside one speech region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, kw_only=True)
class GateConfig:
    frame_seconds: float = 0.02
    absolute_floor_db: float = -50.0
    margin_db: float = 12.0
    floor_rise_db_per_s: float = 1.5
    initial_floor_db: float = -60.0
    hangover_seconds: float = 0.2


def level_db(samples: np.ndarray) -> float:
    """RMS level in dB relative to full scale (float samples in [-1, 1])."""
    return float(10.0 * np.log10(np.mean(np.square(samples, dtype=np.float64)) + 1e-12))


class SpeechGate:
    """Classifies consecutive frames of one stream as speech or not; state carries across calls."""

    def __init__(self, sample_rate: int, config: GateConfig | None = None) -> None:
        self.config = config or GateConfig()
        self.frame_size = round(sample_rate * self.config.frame_seconds)
        self._floor = self.config.initial_floor_db
        self._rise = self.config.floor_rise_db_per_s * self.config.frame_seconds
        self._hangover_frames = round(self.config.hangover_seconds / self.config.frame_seconds)
        self._since_speech = self._hangover_frames + 1
        self._pending = np.zeros(0, dtype=np.float32)

    @property
    def pending(self) -> int:
        """Samples of an incomplete frame carried over to the next `feed`."""
        return len(self._pending)

    def feed(self, pcm: np.ndarray) -> list[bool]:
        """Classify every complete frame in `pcm` (plus what was left over from the last call)."""
        samples = np.concatenate([self._pending, pcm]) if len(self._pending) else pcm
        count = len(samples) // self.frame_size
        self._pending = samples[count * self.frame_size :].astype(np.float32, copy=True)
        return [
            self._classify(samples[i * self.frame_size : (i + 1) * self.frame_size])
            for i in range(count)
        ]

    def _classify(self, frame: np.ndarray) -> bool:
        level = level_db(frame)
        loud = level > max(self.config.absolute_floor_db, self._floor + self.config.margin_db)
        self._floor = level if level < self._floor else self._floor + self._rise
        self._since_speech = 0 if loud else self._since_speech + 1
        return self._since_speech <= self._hangover_frames
