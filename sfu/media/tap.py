"""The room audio tap: every participant's decoded audio mixed into one 24 kHz mono stream on the
room clock, and per-track voice activity to attribute what was said to who said it.

Pure and synchronous: callers pass the room time in. Each track's frames are laid end to end on
the room clock from the time the first one arrived (`TrackTimeline`), so network jitter does not
tear the audio; a gap or drift larger than `max_drift` re-anchors the track to its arrival time.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from captioner.engine import FRAME_SECONDS, SAMPLE_RATE
from captioner.speech_gate import GateConfig, SpeechGate

FRAME_SAMPLES = round(FRAME_SECONDS * SAMPLE_RATE)


class TrackTimeline:
    """Places one track's consecutive frames on the room clock."""

    def __init__(self, max_drift: float = 0.12) -> None:
        self.max_drift = max_drift
        self._next: float | None = None

    def place(self, arrival: float, duration: float) -> float:
        """Room time of the first sample of a frame of `duration` seconds that arrived now."""
        start = arrival - duration
        if self._next is not None and abs(start - self._next) <= self.max_drift:
            start = self._next
        self._next = start + duration
        return start


class RoomMixer:
    """Sums tracks into 80 ms frames; a frame is emitted once `hold` seconds have passed after its
    end, so late tracks still make it in. Audio arriving after its frame left is counted, not
    mixed."""

    def __init__(self, start: float = 0.0, hold: float = 0.1) -> None:
        self.hold = hold
        self.late_seconds = 0.0
        self._next_frame = math.floor(start / FRAME_SECONDS + 1e-9)
        self._frames: dict[int, np.ndarray] = {}

    def add(self, start: float, pcm: np.ndarray) -> None:
        position = round(start * SAMPLE_RATE)
        first_open = self._next_frame * FRAME_SAMPLES
        if position < first_open:
            late = min(len(pcm), first_open - position)
            self.late_seconds += late / SAMPLE_RATE
            pcm, position = pcm[late:], position + late
        while len(pcm):
            index, offset = divmod(position, FRAME_SAMPLES)
            take = min(len(pcm), FRAME_SAMPLES - offset)
            frame = self._frames.get(index)
            if frame is None:
                frame = self._frames[index] = np.zeros(FRAME_SAMPLES, dtype=np.float32)
            frame[offset : offset + take] += pcm[:take]
            pcm, position = pcm[take:], position + take

    def flush(self, now: float) -> tuple[float, np.ndarray] | None:
        """All complete frames up to `now - hold`, as one contiguous block (start, pcm)."""
        last = math.floor((now - self.hold) / FRAME_SECONDS + 1e-9)
        if last <= self._next_frame:
            return None
        frames = [self._frames.pop(i, None) for i in range(self._next_frame, last)]
        start = self._next_frame * FRAME_SECONDS
        self._next_frame = last
        pcm = np.concatenate(
            [f if f is not None else np.zeros(FRAME_SAMPLES, np.float32) for f in frames]
        )
        return start, np.clip(pcm, -1.0, 1.0)


@dataclass(frozen=True)
class ActivityFrame:
    time: float
    power: float  # mean square, linear


class VoiceActivity:
    """Which participant carried speech when: per-track speech frames on the room clock."""

    def __init__(self, history_seconds: float = 120.0, gate: GateConfig | None = None) -> None:
        self.history_seconds = history_seconds
        self._gate_config = gate or GateConfig()
        self._gates: dict[str, SpeechGate] = {}
        self._frames: dict[str, deque[ActivityFrame]] = {}

    def add(self, participant_id: str, start: float, pcm: np.ndarray) -> None:
        gate = self._gates.get(participant_id)
        if gate is None:
            gate = self._gates[participant_id] = SpeechGate(SAMPLE_RATE, self._gate_config)
            self._frames[participant_id] = deque()
        frames = self._frames[participant_id]
        size = gate.frame_size
        pending = gate.pending
        for i, speech in enumerate(gate.feed(pcm)):
            if speech:
                offset = i * size - pending
                chunk = pcm[max(0, offset) : offset + size]
                power = float(np.mean(np.square(chunk))) if len(chunk) else 0.0
                frames.append(ActivityFrame(start + offset / SAMPLE_RATE, power))
        horizon = start - self.history_seconds
        while frames and frames[0].time < horizon:
            frames.popleft()

    def remove(self, participant_id: str) -> None:
        self._gates.pop(participant_id, None)
        # Frames stay: what a participant said before leaving is still theirs.

    def speech_spans(
        self, start: float, end: float, join: float = 0.1
    ) -> list[tuple[float, float]]:
        """Stretches of [start, end) where any participant's track carried speech."""
        times = sorted(
            f.time for frames in self._frames.values() for f in frames if start <= f.time < end
        )
        size = self._gate_config.frame_seconds
        spans: list[tuple[float, float]] = []
        for t in times:
            if spans and t - spans[-1][1] <= join:
                spans[-1] = (spans[-1][0], max(spans[-1][1], t + size))
            else:
                spans.append((t, t + size))
        return spans

    def dominant(self, start: float, end: float, margin: float = 0.25) -> str | None:
        """The participant with the most speech energy in [start - margin, end + margin]."""
        best, best_power = None, 0.0
        for participant_id, frames in self._frames.items():
            power = sum(f.power for f in frames if start - margin <= f.time <= end + margin)
            if power > best_power:
                best, best_power = participant_id, power
        return best
