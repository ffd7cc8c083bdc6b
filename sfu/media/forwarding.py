"""Forwarding Opus packets untouched from one participant to the others.

Decoding and re-encoding per subscriber (aiortc's MediaRelay) saturated a core with one 10-person
room; forwarding the packets costs a fraction of that (DESIGN.md). The receive side needs the
packets before aiortc's jitter buffer and decoder: `PacketTap` wraps the receiver's
`_handle_rtp_packet`, a private method of aiortc 1.16 (pinned, and covered by the integration
tests). The send side does each subscriber's work in the tap's callback, through an `Outlet`
(`sfu.media.sender.DirectSender` on an aiortc sender): aiortc's own sending loop, a coroutine
woken per packet per subscriber, cost most of a large room's CPU.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import av
from aiortc import MediaStreamTrack, RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket

from sfu.media.counters import ForwardingCounters
from sfu.media.speaking import ActiveSpeakers

logger = logging.getLogger(__name__)

OPUS_CLOCK = 48_000
# 1 s of 20 ms packets held for a subscriber whose sender is not started yet (its
# renegotiation): past that it loses the oldest.
QUEUE_PACKETS = 50
# A route made while its source is speaking first gets the source's packets of the last 0.5 s
# since it started speaking: a source is routed only once it has spoken (`ForwardingGraph`), and
# a renegotiation takes a few round trips, which must not cut its first syllable.
REPLAY_SECONDS = 0.5
REPLAY_PACKETS = 25


class Outlet(Protocol):
    """Where a forwarded track's packets go out: a subscriber's sender (`sfu.media.sender`)."""

    on_ready: Callable[[], None] | None  # set by the track: called once `ready` may be true

    @property
    def ready(self) -> bool:
        """Whether `send` can send now (the sender is started, its transport connected)."""

    def send(self, payload: bytes, pts: int) -> bool:
        """Send `payload` at `pts` (the stream's clock); False when it was lost."""


class ForwardedAudioTrack(MediaStreamTrack):
    """The Opus packets of one source at a time, sent to one subscriber.

    A sender keeps one track for its whole life: aiortc's sender stops for good when its track
    ends. When the source leaves, the track is detached and idles; a later source is attached to
    it. The sender keeps its SSRC, and a receiver (Chromium's jitter buffer and aiortc's alike)
    discards packets whose RTP timestamps jump back on one SSRC, so each source's packets start at
    `pts_origin`: where the subscriber's 48 kHz media clock is when it is attached.

    Each packet goes out in the tap's callback, through the `outlet` (`sfu.media.sender`: no
    coroutine per packet per subscriber); aiortc's own sending loop waits in `recv` until the
    track stops. Until the outlet is ready (the renegotiation that adds the sender takes a few
    round trips) the track holds the last `QUEUE_PACKETS` packets and sends them once it is: a
    route's first packets (the tap's replay of the word being spoken) are not cut.
    """

    kind = "audio"

    def __init__(self, source_id: str, *, pts_origin: int = 0) -> None:
        super().__init__()
        self.source_id: str | None = source_id
        self.dropped = 0
        self.counters: ForwardingCounters | None = None  # the room's, once routed
        self.outlet: Outlet | None = None
        self._sending = False  # the outlet was ready: no need to ask it again
        # (payload, pts, arrival) held until the outlet is ready; arrival: when the source's tap
        # took the packet (time.monotonic()).
        self._held: deque[tuple[bytes, int, float]] = deque()
        self._stopped = asyncio.Event()
        self._pts_origin = pts_origin
        self._origin: int | None = None  # the source's first RTP timestamp
        self._last_pts = -1

    def send_through(self, outlet: Outlet) -> None:
        """Send through `outlet` from now on (what is held goes once it is ready)."""
        self.outlet = outlet
        self._sending = False
        outlet.on_ready = self.flush

    def attach(self, source_id: str, *, pts_origin: int) -> None:
        """Carry `source_id`'s packets from now on, on a timeline that never goes back."""
        self.source_id = source_id
        self._pts_origin = max(pts_origin, self._last_pts + 1)
        self._origin = None

    def detach(self) -> None:
        """The source left: drop what is held and idle until the next `attach`."""
        self.source_id = None
        self._held.clear()

    @property
    def held(self) -> int:
        """Packets waiting for the outlet."""
        return len(self._held)

    def push(self, payload: bytes, rtp_timestamp: int, arrival: float = 0.0) -> None:
        """Send one packet of the source; `arrival`: when its tap took it (time.monotonic())."""
        if self.readyState != "live" or self.source_id is None:
            return
        if self._origin is None:
            self._origin = rtp_timestamp
        pts = (self._pts_origin + rtp_timestamp - self._origin) % (1 << 32)
        if pts <= self._last_pts:  # reordered or duplicated: the subscriber's buffer can't use it
            return
        self._last_pts = pts
        outlet = self.outlet
        if outlet is not None and self._sending:
            self._send(outlet, payload, pts, arrival)
            return
        if outlet is None or not outlet.ready:
            if len(self._held) == QUEUE_PACKETS:
                self._held.popleft()
                self.dropped += 1
            self._held.append((payload, pts, arrival))
            return
        self.flush()
        self._send(outlet, payload, pts, arrival)

    def flush(self) -> None:
        """Send what is held, if the outlet is ready; from then on every packet goes at once
        (a transport that closes later loses them: its sender never starts again)."""
        outlet = self.outlet
        if outlet is None or not outlet.ready:
            return
        self._sending = True
        while self._held:
            self._send(outlet, *self._held.popleft())

    def _send(self, outlet: Outlet, payload: bytes, pts: int, arrival: float) -> None:
        if not outlet.send(payload, pts):
            self.dropped += 1
        elif self.counters is not None:
            self.counters.sent(time.monotonic() - arrival)

    async def recv(self) -> av.Packet[Any]:
        """Never yields a packet (they go out through the outlet): aiortc's sending loop waits
        here until the track stops."""
        await self._stopped.wait()
        raise MediaStreamError

    def stop(self) -> None:
        self._held.clear()
        self._stopped.set()
        super().stop()


class PacketTap:
    """Copies each RTP payload a receiver gets to the subscribers' tracks; aiortc then goes on
    (to its jitter buffer and decoder: the caption tap gets every packet, forwarded or not).

    Where the room gates silence (`govern`), a packet of a source that is not speaking is copied
    to nobody: no per-subscriber work at all."""

    def __init__(self, receiver: RTCRtpReceiver, *, jitter_prefetch: int) -> None:
        self.subscribers: dict[str, ForwardedAudioTrack] = {}
        self.packets = 0
        self.counters = ForwardingCounters()
        self.speakers: ActiveSpeakers | None = None
        self._on_first_voice: Callable[[], None] | None = None
        self.last_admitted = 0.0  # time.monotonic() of the last packet the gate let through
        # (payload, RTP timestamp, arrival) of the packets forwarded since the gate last opened.
        self._recent: deque[tuple[bytes, int, float]] = deque(maxlen=REPLAY_PACKETS)
        self._receiver = receiver
        original: Callable[[RtpPacket, int], Awaitable[None]] = receiver._handle_rtp_packet

        async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
            if packet.payload:
                self.packets += 1
                self._forward(packet)
            await original(packet, arrival_time_ms)

        receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]  # aiortc has no packet hook
        # aiortc holds 4 audio frames before decoding; for the captions path fewer is enough.
        receiver._RTCRtpReceiver__jitter_buffer = JitterBuffer(  # type: ignore[attr-defined]  # private, no setting
            capacity=16, prefetch=jitter_prefetch
        )

    def govern(
        self,
        speakers: ActiveSpeakers | None,
        counters: ForwardingCounters,
        *,
        on_first_voice: Callable[[], None] | None = None,
    ) -> None:
        """Forward only while `speakers` admits this source (None: always); count in
        `counters` (the room's); call `on_first_voice` at the first packet admitted."""
        self.speakers = speakers
        self.counters = counters
        self._on_first_voice = on_first_voice

    def _forward(self, packet: RtpPacket) -> None:
        counters = self.counters
        counters.received += 1
        now = time.monotonic()
        speakers = self.speakers
        if speakers is not None and not speakers.admit(self, packet.extensions.audio_level, now):
            counters.gated += 1
            self._recent.clear()
            return
        self.last_admitted = now
        if self._on_first_voice is not None:
            on_first_voice, self._on_first_voice = self._on_first_voice, None
            on_first_voice()
        payload, timestamp = packet.payload, packet.timestamp
        if speakers is not None:
            self._recent.append((payload, timestamp, now))
        for track in self.subscribers.values():
            track.push(payload, timestamp, now)

    def subscribe(self, subscriber_id: str, track: ForwardedAudioTrack) -> None:
        self.subscribers[subscriber_id] = track
        horizon = time.monotonic() - REPLAY_SECONDS
        for payload, timestamp, arrival in self._recent:
            if arrival >= horizon:
                track.push(payload, timestamp, arrival)

    def unsubscribe(self, subscriber_id: str) -> ForwardedAudioTrack | None:
        return self.subscribers.pop(subscriber_id, None)
