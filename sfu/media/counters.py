"""What a room's forwarding did: packets in, packets out, and how long each waited in between.

One `ForwardingCounters` per room, shared by its packet taps (packets in, gated) and the tracks
they feed (packets out, and the forwarding delay: from the tap taking a packet to its sending on
the subscriber's transport, measured on `time.monotonic()`; for a subscriber whose sender is not
started yet, the wait for it too). Plain
integers and fixed buckets, cheap enough for every packet; /metrics and the cluster's load read
them.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

# Upper bounds (seconds) of the forwarding-delay histogram's buckets; the last is +Inf.
DELAY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


@dataclass
class DelayHistogram:
    """Forwarding delays in the `DELAY_BUCKETS`, counted per packet (video's frames count once
    per packet they carry, so that its figures compare with audio's)."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(DELAY_BUCKETS) + 1))
    total: float = 0.0  # the delays' sum, seconds

    def add(self, delay: float, packets: int = 1) -> None:
        self.counts[bisect_left(DELAY_BUCKETS, delay)] += packets
        self.total += delay * packets

    def add_from(self, other: DelayHistogram) -> None:
        """Sum `other` into this (a node's totals over its rooms)."""
        self.total += other.total
        for i, count in enumerate(other.counts):
            self.counts[i] += count

    def cumulative(self) -> list[tuple[str, int]]:
        """Prometheus histogram buckets: (upper bound, count at or below it), +Inf last."""
        seen, buckets = 0, []
        for bound, count in zip((*DELAY_BUCKETS, float("inf")), self.counts, strict=True):
            seen += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), seen))
        return buckets


@dataclass
class ForwardingCounters:
    received: int = 0  # packets the room's sources sent (with a payload)
    forwarded: int = 0  # packets handed to subscribers' senders
    gated: int = 0  # packets of silent (or outranked) sources, forwarded to nobody
    delay: DelayHistogram = field(default_factory=DelayHistogram)

    def sent(self, delay: float) -> None:
        """One packet left for a subscriber `delay` seconds after its source's tap took it."""
        self.forwarded += 1
        self.delay.add(delay)

    def add(self, other: ForwardingCounters) -> None:
        """Sum `other` into these (a node's totals over its rooms)."""
        self.received += other.received
        self.forwarded += other.forwarded
        self.gated += other.gated
        self.delay.add_from(other.delay)
