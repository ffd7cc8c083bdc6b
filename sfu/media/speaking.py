"""Who is speaking: which of a room's audio sources are forwarded, from the audio level each
packet carries (the ssrc-audio-level header extension, RFC 6464, which browsers and aiortc send).

A silent participant costs the SFU no per-subscriber work: its packets still reach the caption
tap (which decodes every source, whatever is forwarded), but the packet tap copies them to no
subscriber. At most `max_speakers` sources are forwarded at once: the first voiced packet of a
source opens it (so a first syllable is not cut), and it stays open until `hold` seconds after
its last voiced packet (so the pauses inside a sentence are forwarded too, and a receiver's jitter
buffer sees the quiet tail of a turn). When every slot is taken, a newcomer takes the slot of
the quietest open source only if it is louder by `margin_db`; otherwise it waits for a slot.

A turn: a source that has stayed open for `hold` seconds since the voiced packet that opened it,
and is voiced again then, is taking a turn (`on_turn` is called once per opening). A cough or a
"mm" opens a source for its sound plus the hold, but is silent by the time the hold has run, so
it is no turn: what follows the speaker (a camera tile) does not swap for it.

A source whose packets carry no audio level (a client that does not send the extension) cannot
be judged and is always forwarded.

Sans-I/O: the caller passes `now` (seconds, monotonic) with each packet.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

# RFC 6464 section 3: the level is 0..127, in -dBov (0 the loudest, 127 digital silence).
SILENCE_DBOV = 127


@dataclass(frozen=True, kw_only=True)
class SpeakingConfig:
    max_speakers: int = 3  # N: sources forwarded at once, the loudest open ones
    threshold_dbov: int = 50  # a packet louder than -50 dBov (or with the V flag set) is voiced
    hold: float = 1.0  # seconds a source stays forwarded after its last voiced packet
    margin_db: float = 6.0  # how much louder a newcomer must be to take a full room's slot
    smoothing: float = 0.3  # weight of a voiced packet's level in a source's loudness

    def __post_init__(self) -> None:
        if self.max_speakers < 1:
            raise ValueError("max_speakers must be at least 1")
        if not 0 <= self.threshold_dbov <= SILENCE_DBOV:
            raise ValueError("threshold_dbov must be within 0..127")


@dataclass
class _Source:
    last_voiced: float
    loudness: float  # dB above digital silence, smoothed over voiced packets
    opened: float = 0.0  # the voiced packet that opened it
    turn: bool = False  # `on_turn` was called for this opening


class ActiveSpeakers:
    """The open sources of one room, at most `max_speakers` of them."""

    def __init__(
        self,
        config: SpeakingConfig | None = None,
        *,
        on_turn: Callable[[Hashable], None] | None = None,
    ) -> None:
        """`on_turn(source)`: `source` is taking a turn (the module docstring)."""
        self.config = config or SpeakingConfig()
        self.on_turn = on_turn
        self._open: dict[Hashable, _Source] = {}

    def admit(self, source: Hashable, level: tuple[bool, int] | None, now: float) -> bool:
        """Whether this packet of `source` is forwarded. `level`: the packet's (voice flag,
        level in -dBov) from its audio-level header extension, None where it has none."""
        if level is None:
            return True
        config = self.config
        vad, dbov = level
        voiced = vad or dbov <= config.threshold_dbov
        state = self._open.get(source)
        if state is not None:
            if voiced:
                state.last_voiced = now
                loud = SILENCE_DBOV - dbov
                state.loudness += config.smoothing * (loud - state.loudness)
                if not state.turn and now - state.opened >= config.hold:
                    state.turn = True
                    if self.on_turn is not None:
                        self.on_turn(source)
                return True
            if now - state.last_voiced <= config.hold:
                return True
            del self._open[source]  # its hold ran out
        if not voiced:
            return False
        return self._open_slot(source, SILENCE_DBOV - dbov, now)

    def _open_slot(self, source: Hashable, loudness: float, now: float) -> bool:
        config = self.config
        if len(self._open) >= config.max_speakers:
            # Sources that stopped sending (DTX, or gone) hold no slot past their hold.
            for key in [k for k, s in self._open.items() if now - s.last_voiced > config.hold]:
                del self._open[key]
        if len(self._open) >= config.max_speakers:
            quietest = min(self._open, key=lambda k: self._open[k].loudness)
            if loudness < self._open[quietest].loudness + config.margin_db:
                return False
            del self._open[quietest]
        self._open[source] = _Source(now, loudness, opened=now)
        return True

    def forget(self, source: Hashable) -> None:
        """`source` left: its slot is free at once."""
        self._open.pop(source, None)

    @property
    def speaking(self) -> list[Hashable]:
        """The sources open now (as of the last packet seen)."""
        return list(self._open)
