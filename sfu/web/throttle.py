"""Back-off on failed joins, per source address: guessing the participant token costs time.

Sans-I/O: the caller passes the time in. An address gets `free_failures` unauthorized joins; each
further one blocks its joins for twice as long as the previous (from `base_seconds`, up to
`max_seconds`). A successful join forgets the address. The table is bounded: at most
`max_addresses` are remembered (the least recently failing is forgotten first), and an address
idle for `forget_seconds` starts afresh.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class ThrottleConfig:
    free_failures: int = 5
    base_seconds: float = 1.0
    max_seconds: float = 60.0
    forget_seconds: float = 600.0
    max_addresses: int = 10_000


@dataclass
class _Failures:
    count: int
    last: float
    blocked_until: float


class JoinThrottle:
    def __init__(self, config: ThrottleConfig | None = None) -> None:
        self.config = config or ThrottleConfig()
        self._failures: dict[str, _Failures] = {}  # in order of last failure

    def blocked_for(self, address: str, now: float) -> float:
        """Seconds before `address` may try to join again; 0 when it may now."""
        entry = self._failures.get(address)
        return 0.0 if entry is None else max(0.0, entry.blocked_until - now)

    def failed(self, address: str, now: float) -> None:
        entry = self._failures.pop(address, None)
        if entry is None or now - entry.last > self.config.forget_seconds:
            entry = _Failures(0, now, now)
        entry.count += 1
        entry.last = now
        over = entry.count - self.config.free_failures
        if over > 0:
            delay = min(self.config.base_seconds * 2 ** min(over - 1, 32), self.config.max_seconds)
            entry.blocked_until = now + delay
        self._failures[address] = entry
        while len(self._failures) > self.config.max_addresses:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    def __len__(self) -> int:
        return len(self._failures)
