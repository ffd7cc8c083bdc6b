"""A listener that costs little: joins through the real protocol (signaling, an aiortc peer, the
`captions` channel), receives the forwarded RTP and counts it, and never decodes audio or video.

A full `CaptionClient` runs aiortc's jitter buffer and Opus decoder on every packet of every
source, so on this machine the load clients ran out of CPU long before the server did (issue 22).
The listener takes each packet where aiortc's receiver would start that work (`_handle_rtp_packet`,
after SRTP and routing: the hook the server's `PacketTap` uses too, aiortc 1.16 pinned) and only
counts it: per media section, hence per source participant (the msid stream id of each forwarded
section names its source, docs/protocol-notes.md). Loss is counted as RFC 3550 section A.3 does:
expected = extended highest sequence number - first + 1, per section (the server's sender keeps
one sequence across the sources it carries in turn). Captions and their latency are the
`CaptionClient`'s.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc import MediaStreamTrack
from aiortc.rtp import RtpPacket

from client.participant import CaptionClient
from protocol import ServerOffer
from protocol.jsep import sections

SEQ_MOD = 1 << 16


@dataclass
class SectionCount:
    """The packets received on one forwarded media section."""

    packets: int = 0
    first: int | None = None  # extended sequence number of the first packet
    highest: int = 0  # extended highest sequence number (RFC 3550 A.1)
    # Arrival times (time.monotonic()) of the last packets: what a test counts around a moment.
    arrivals: deque[float] = field(default_factory=deque)
    # Every payload received and when it first arrived (time.monotonic()), where kept (tests).
    payloads: dict[bytes, float] | None = None

    def add(self, sequence: int, arrival: float, keep: int) -> None:
        if self.first is None:
            self.first = self.highest = sequence
        else:
            # Unwrap onto the extended sequence nearest the highest seen (RFC 3550 A.1).
            delta = (sequence - self.highest) % SEQ_MOD
            if delta < SEQ_MOD // 2:
                self.highest += delta
        self.packets += 1
        if keep:
            self.arrivals.append(arrival)
            if len(self.arrivals) > keep:
                self.arrivals.popleft()

    @property
    def expected(self) -> int:
        return 0 if self.first is None else self.highest - self.first + 1


@dataclass(frozen=True)
class Delivery:
    """Forwarded packets of one source at one listener: received against expected."""

    received: int
    expected: int

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.received)


class Listener(CaptionClient):
    """A participant that sends no audio, counts the audio and video forwarded to it (never
    decoded), and takes captions.

    `keep_arrivals`: how many arrival times to keep per section (0: none); `keep_payloads`: keep
    every payload (tests)."""

    def __init__(
        self,
        url: str,
        *,
        room: str,
        name: str,
        subtitles: bool = True,
        token: str = "",
        language: str | None = None,
        keep_arrivals: int = 0,
        keep_payloads: bool = False,
        batch_presence: bool = True,
    ) -> None:
        super().__init__(
            url,
            room=room,
            name=name,
            subtitles=subtitles,
            token=token,
            language=language,
            batch_presence=batch_presence,
        )
        self.keep_arrivals = keep_arrivals
        self.keep_payloads = keep_payloads
        self._counts: dict[str, SectionCount] = {}  # by mid
        self.packets = 0
        self.offers = 0  # server offers (renegotiations) received, and their bytes
        self.offer_bytes = 0
        self.on_packet: Callable[[], None] | None = None  # e.g. to wake a waiting test

    def _on_track(self, track: MediaStreamTrack) -> None:
        assert self.pc is not None
        transceiver = next(t for t in self.pc.getTransceivers() if t.receiver.track is track)
        receiver = transceiver.receiver
        keep = self.keep_arrivals

        async def count(packet: RtpPacket, arrival_time_ms: int) -> None:
            mid = transceiver.mid
            if mid is None or not packet.payload:
                return
            section = self._counts.get(mid)
            if section is None:
                payloads: dict[bytes, float] | None = {} if self.keep_payloads else None
                section = self._counts[mid] = SectionCount(arrivals=deque(), payloads=payloads)
            section.add(packet.sequence_number, time.monotonic(), keep)
            if section.payloads is not None:
                section.payloads.setdefault(packet.payload, time.monotonic())
            self.packets += 1
            if self.on_packet is not None:
                self.on_packet()

        # Nothing reaches the jitter buffer or the decoder: this listener never decodes.
        receiver._handle_rtp_packet = count  # type: ignore[method-assign]  # aiortc has no packet hook

    async def _renegotiate(self, offer: ServerOffer) -> None:
        self.offers += 1
        self.offer_bytes += len(offer.sdp)
        await super()._renegotiate(offer)

    def _by_source(self, kind: str | None = None) -> dict[str, list[SectionCount]]:
        """The sections' counts per source participant; only sections of `kind`, if given."""
        if self.pc is None or self.pc.remoteDescription is None:
            return {}
        named = {s.mid: s for s in sections(self.pc.remoteDescription.sdp)}
        by_source: dict[str, list[SectionCount]] = {}
        for mid, count in self._counts.items():
            section = named.get(mid)
            if section is None or (kind is not None and section.kind != kind):
                continue
            source = section.stream
            if source is not None:
                by_source.setdefault(source, []).append(count)
        return by_source

    @property
    def packets_from(self) -> dict[str, int]:
        """Packets received per source participant."""
        return {s: sum(c.packets for c in counts) for s, counts in self._by_source().items()}

    @property
    def video_packets_from(self) -> dict[str, int]:
        """Video packets received per source participant (its camera and screen sections)."""
        by_source = self._by_source("video")
        return {s: sum(c.packets for c in counts) for s, counts in by_source.items()}

    def delivery(self) -> dict[str, Delivery]:
        """Per source participant: packets received and expected (sequence span)."""
        return {
            source: Delivery(sum(c.packets for c in counts), sum(c.expected for c in counts))
            for source, counts in self._by_source().items()
        }

    def payloads_from(self, source: str) -> dict[bytes, float]:
        """The payloads received from `source` and when (with `keep_payloads`): the server
        forwards them untouched, so a test can tell exactly which of a speaker's packets arrived,
        and when."""
        received: dict[bytes, float] = {}
        for count in self._by_source().get(source, []):
            received.update(count.payloads or {})
        return received

    def arrivals_from(self, source: str) -> list[float]:
        """The kept arrival times (time.monotonic()) of `source`'s packets, in order."""
        times = [t for c in self._by_source().get(source, []) for t in c.arrivals]
        return sorted(times)

    async def wait_packets(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait until `predicate()` holds, checked on every packet received."""
        if predicate():
            return
        woken = asyncio.Event()
        self.on_packet = woken.set
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    woken.clear()
                    await woken.wait()
        finally:
            self.on_packet = None
