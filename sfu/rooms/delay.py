"""How far behind speech a room's captions are, for the "captions are delayed" notice.

Past the engine's capacity every room's captions come later (the engine decodes each stream less
often, all alike): the room measures the latency of the captions it sends (PROTOCOL.md's, on the
server: the room clock at sending minus the end of the audio the caption covers) over the last
few seconds, and says its captions are delayed once the median passes `on`, until it falls below
`off` (hysteresis: no notice flickering on and off at one threshold). Silence sends no captions
and ends the notice once the window is empty.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field


@dataclass
class CaptionDelay:
    window: float = 5.0  # seconds of recent captions looked at
    on: float = 3.0  # median latency that says "delayed"
    off: float = 1.5  # ... and that says it no longer is
    delayed: bool = False
    _recent: deque[tuple[float, float]] = field(default_factory=deque)  # (sent at, latency)

    def observe(self, now: float, latency: float) -> None:
        self._recent.append((now, latency))
        self._forget(now)

    def check(self, now: float) -> float | None:
        """The captions' current delay in seconds while they are delayed; None otherwise."""
        self._forget(now)
        median = statistics.median(lat for _, lat in self._recent) if self._recent else 0.0
        self.delayed = median >= (self.off if self.delayed else self.on)
        return median if self.delayed else None

    def _forget(self, now: float) -> None:
        while self._recent and self._recent[0][0] < now - self.window:
            self._recent.popleft()
