"""Back-off on failed joins, per source address: guessing the participant token costs time; and
rate limits per key for people's text (corrections, captioners' lines).

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


@dataclass(frozen=True, kw_only=True)
class RateConfig:
    rate: float  # requests per second, sustained
    burst: float  # requests at once
    max_keys: int = 10_000


@dataclass
class _Bucket:
    tokens: float
    last: float


class RateLimiter:
    """Token buckets per key (a reviewer's identity, a room), sans-I/O: `take` says whether a
    request may go now. The table is bounded: beyond `max_keys`, the least recently used key is
    forgotten (it starts again with a full bucket)."""

    def __init__(self, config: RateConfig) -> None:
        self.config = config
        self._buckets: dict[str, _Bucket] = {}  # in order of last use

    def take(self, key: str, now: float) -> float:
        """0 when the request may go (it is counted); else the seconds until one may."""
        bucket = self._buckets.pop(key, None) or _Bucket(self.config.burst, now)
        elapsed = max(0.0, now - bucket.last)
        bucket.tokens = min(self.config.burst, bucket.tokens + elapsed * self.config.rate)
        bucket.last = now
        self._buckets[key] = bucket
        while len(self._buckets) > self.config.max_keys:
            del self._buckets[next(iter(self._buckets))]
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.config.rate
