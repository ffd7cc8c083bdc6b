"""Forwarding camera and screen video untouched: RTP payloads in, the same payloads out.

As for audio (`sfu.media.forwarding`), the SFU neither decodes nor re-encodes. aiortc's receiver
would depacketize, reassemble and decode every inbound frame in a thread, and its sender would
encode every outbound one; a `VideoTap` takes the receiver's packets instead of it (so nothing is
decoded), groups them into frames (one RTP timestamp, RFC 7741 section 4 / RFC 6184 section 5.1)
and hands each frame's payloads to the subscribers' `ForwardedVideoTrack`s, which send them as they
came through a `DirectSender` (`sfu.media.sender`, in the tap's callback: one sequence of numbers
per sender, so it never jumps back, and timestamps rebased). The server gives every track one;
a track without one (tests/sfu/test_video.py) is read by aiortc's own loop (`recv`), whose
`PassthroughEncoder` sends the frames as they came.

Keyframes: a subscriber that starts receiving a source, loses its place (its queue overflowed,
or its transport refused a frame) or reports picture loss (RTCP PLI or FIR, RFC 4585 section
6.3.1, RFC 5104 section 4.3.1) makes the source's tap ask the source for a keyframe, at most once
per `KEYFRAME_INTERVAL` per source; until a keyframe comes, such a subscriber is sent nothing (a
decoder cannot use the frames after a gap).

aiortc hooks used (private in aiortc 1.16, pinned; covered by the integration tests): the
receiver's `_handle_rtp_packet` and `_send_rtcp_pli`, the sender's encoder slot and
`_send_keyframe` (and `sfu.media.sender`'s).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiortc import MediaStreamTrack, RTCRtpReceiver, RTCRtpSender
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters, RTCRtpSendParameters
from aiortc.rtp import RtpPacket

from sfu.media.counters import DelayHistogram

logger = logging.getLogger(__name__)

VIDEO_CLOCK = 90_000  # RFC 7741 section 4.1, RFC 6184 section 5.1
QUEUE_FRAMES = 30  # 1 s at 30 fps: a subscriber further behind drops to the next keyframe
KEYFRAME_INTERVAL = 0.3  # seconds between keyframe requests to one source
MAX_FRAME_PACKETS = 400  # a frame of more packets than this (~500 kB) is broken or hostile
VP8 = "video/vp8"
H264 = "video/h264"
FORWARDED_CODECS = (VP8, H264)


@dataclass
class VideoCounters:
    """A room's video forwarding, counted for /metrics since the room opened."""

    packets: int = 0  # received from sources (each is forwarded to every subscriber)
    forwarded: int = 0  # packets handed to subscribers' tracks
    keyframe_requests: int = 0  # sent to sources
    lost_frames: int = 0  # incomplete frames from a source, not forwarded
    # From a frame's first packet at its source's tap to the subscriber's sender taking the
    # frame (so it includes waiting for the frame's last packet), once per packet of the frame.
    delay: DelayHistogram = field(default_factory=DelayHistogram)


@dataclass(frozen=True)
class EncodedFrame:
    """One video frame as the source packetized it."""

    payloads: tuple[bytes, ...]
    timestamp: int  # RTP, 90 kHz
    keyframe: bool
    mime: str  # lower case, e.g. "video/vp8"
    arrival: float = 0.0  # when the tap took its first packet (time.monotonic())


def vp8_keyframe(payload: bytes) -> bool:
    """Whether `payload` starts a VP8 key frame (RFC 7741 sections 4.2 and 4.3)."""
    if len(payload) < 1:
        return False
    first = payload[0]
    start, partition = first & 0x10, first & 0x07
    index = 1
    if first & 0x80:  # X: extension octet
        if len(payload) < 2:
            return False
        ext = payload[1]
        index = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            if len(payload) <= index:
                return False
            index += 2 if payload[index] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            index += 1
        if ext & 0x30:  # T or K: TID/Y/KEYIDX
            index += 1
    if not start or partition != 0 or len(payload) <= index:
        return False
    return payload[index] & 0x01 == 0  # P bit of the VP8 frame header: 0 for a key frame


def h264_keyframe(payload: bytes) -> bool:
    """Whether `payload` carries an IDR slice or a sequence parameter set (RFC 6184 section 5)."""
    if not payload:
        return False
    nal = payload[0] & 0x1F
    if nal == 24:  # STAP-A: 16-bit size, then the NAL unit, repeated
        index = 1
        while index + 2 < len(payload):
            size = int.from_bytes(payload[index : index + 2], "big")
            if payload[index + 2] & 0x1F in (5, 7):
                return True
            index += 2 + size
        return False
    if nal == 28:  # FU-A: the fragmented unit's type is in the FU header
        return len(payload) > 1 and payload[1] & 0x80 != 0 and payload[1] & 0x1F in (5, 7)
    return nal in (5, 7)


def is_keyframe(mime: str, payload: bytes) -> bool:
    return vp8_keyframe(payload) if mime == VP8 else h264_keyframe(payload)


class FrameAssembler:
    """Groups one SSRC's packets into frames: a frame ends at its marker bit, or when a packet of
    a later timestamp arrives. A frame with a sequence gap is incomplete and returned as lost."""

    def __init__(self) -> None:
        self._payloads: list[bytes] = []
        self._timestamp: int | None = None
        self._next_seq: int | None = None
        self._broken = False
        self.started = 0.0  # `now` at the first packet of the frame being assembled (or done)

    def add(self, packet: RtpPacket, now: float = 0.0) -> tuple[list[bytes], int, bool] | None:
        """The frame `packet` completes, if any, as (payloads, timestamp, complete); `now`: when
        the packet arrived."""
        gap = self._next_seq is not None and packet.sequence_number != self._next_seq
        self._next_seq = (packet.sequence_number + 1) & 0xFFFF
        done: tuple[list[bytes], int, bool] | None = None
        if self._timestamp is not None and packet.timestamp != self._timestamp:
            done = (self._payloads, self._timestamp, False)  # its marker never came
            self._payloads, self._broken = [], False
        if gap:
            self._broken = True
        self._timestamp = packet.timestamp
        if not self._payloads:
            self.started = now
        self._payloads.append(packet.payload)
        if len(self._payloads) > MAX_FRAME_PACKETS:
            self._payloads, self._broken = [], True
        if packet.marker:
            done = (self._payloads, packet.timestamp, not self._broken)
            self._payloads, self._timestamp, self._broken = [], None, False
        return done


class FrameOutlet(Protocol):
    """Where a forwarded track's frames go out: a subscriber's sender (`sfu.media.sender`)."""

    on_ready: Callable[[], None] | None  # set by the track: called once `ready` may be true

    @property
    def ready(self) -> bool:
        """Whether `send_frame` can send now (the sender is started, its transport connected)."""

    def send_frame(self, payloads: Sequence[bytes], pts: int) -> bool:
        """Send one frame's packets at `pts` (the stream's clock); False when it was lost."""


class ForwardedVideoTrack(MediaStreamTrack):
    """The frames of one video source at a time, queued for one subscriber's sender.

    Like `ForwardedAudioTrack`: kept for the sender's life, attached to one source after another,
    each source's timestamps rebased so that they never go back on the sender's SSRC. It forwards
    from a keyframe on, and when its queue is full it drops what it holds and waits for the next
    keyframe (asking for one): the subscriber loses pictures, never the others' time or memory.

    With an `outlet` (`send_through`), each frame goes out in the tap's callback once the outlet
    is ready, the queue holding frames only until then, and a frame the subscriber's transport
    cannot take loses its place the same way; without one, aiortc's sender takes the frames
    (`recv`, `PassthroughEncoder`)."""

    kind = "video"

    def __init__(self, source_id: str, *, pts_origin: int = 0) -> None:
        super().__init__()
        self.source_id: str | None = source_id
        self.mime: str | None = None  # what the subscriber's sender sends, once negotiated
        self.dropped = 0  # frames
        self.on_keyframe_needed: Callable[[], None] = lambda: None
        self.counters: VideoCounters | None = None  # the room's, once subscribed
        self.clock: Callable[[], float] = time.monotonic  # the stamping tap's, once subscribed
        self._queue: asyncio.Queue[EncodedFrame | None] = asyncio.Queue(maxsize=QUEUE_FRAMES)
        self._pts_origin = pts_origin
        self._origin: int | None = None
        self._last_pts = -1
        self._need_keyframe = True
        self.outlet: FrameOutlet | None = None
        self._sending = False  # the outlet was ready: no need to ask it again
        self._stopped = asyncio.Event()

    def send_through(self, outlet: FrameOutlet) -> None:
        """Send through `outlet` from now on (what is queued goes once it is ready)."""
        self.outlet = outlet
        self._sending = False
        outlet.on_ready = self.flush

    def attach(self, source_id: str, *, pts_origin: int) -> None:
        self.source_id = source_id
        self._pts_origin = max(pts_origin, self._last_pts + 1)
        self._origin = None
        self._need_keyframe = True

    def detach(self) -> None:
        self.source_id = None
        self.on_keyframe_needed = lambda: None
        while not self._queue.empty():
            self._queue.get_nowait()

    def sending(self, mime: str) -> None:
        """The subscriber's sender started with codec `mime`: it needs a keyframe to begin.
        (aiortc calls `send` again on every renegotiation: only a new codec restarts.)"""
        if mime.lower() == self.mime:
            return
        self.mime = mime.lower()
        self._need_keyframe = True
        self.on_keyframe_needed()

    def picture_lost(self) -> None:
        """The subscriber reported picture loss (PLI or FIR)."""
        self.on_keyframe_needed()

    def push(self, frame: EncodedFrame) -> bool:
        """Queue `frame` for the subscriber; False when it is not forwarded."""
        if self.readyState != "live" or self.source_id is None or frame.mime != self.mime:
            return False
        if self._need_keyframe and not frame.keyframe:
            self.on_keyframe_needed()
            return False
        if self._origin is None:
            self._origin = frame.timestamp
        pts = (self._pts_origin + frame.timestamp - self._origin) % (1 << 32)
        if pts <= self._last_pts and not self._need_keyframe:
            return False  # reordered: the subscriber's decoder has moved on
        if self._queue.full():
            self.dropped += self._queue.qsize()
            while not self._queue.empty():
                self._queue.get_nowait()
            self._need_keyframe = True
            self.on_keyframe_needed()
            if not frame.keyframe:
                self.dropped += 1
                return False
        self._need_keyframe = False
        self._last_pts = pts
        rebased = EncodedFrame(frame.payloads, pts, frame.keyframe, frame.mime, frame.arrival)
        outlet = self.outlet
        if outlet is not None and self._sending:
            return self._send(outlet, rebased)
        self._queue.put_nowait(rebased)
        if outlet is not None and outlet.ready:
            self.flush()
            return not self._need_keyframe  # else the transport refused it
        return True

    def flush(self) -> None:
        """Send what is queued, if the outlet is ready; from then on every frame goes at once."""
        outlet = self.outlet
        if outlet is None or not outlet.ready:
            return
        self._sending = True
        while not self._queue.empty():
            frame = self._queue.get_nowait()
            if frame is not None and not self._send(outlet, frame):
                break

    def _send(self, outlet: FrameOutlet, frame: EncodedFrame) -> bool:
        if outlet.send_frame(frame.payloads, frame.timestamp):
            if self.counters is not None and frame.arrival:
                self.counters.delay.add(self.clock() - frame.arrival, len(frame.payloads))
            return True
        # The subscriber's transport cannot take it: the frames after it are undecodable.
        self.dropped += 1 + self._queue.qsize()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._need_keyframe = True
        self.on_keyframe_needed()
        return False

    async def recv(self) -> EncodedFrame:  # type: ignore[override]  # aiortc packs a non-Frame
        if self.readyState != "live":
            raise MediaStreamError
        if self.outlet is not None:  # the frames go out through it: aiortc's loop waits here
            await self._stopped.wait()
            raise MediaStreamError
        frame = await self._queue.get()
        if frame is None:
            raise MediaStreamError
        if self.counters is not None and frame.arrival:
            self.counters.delay.add(self.clock() - frame.arrival, len(frame.payloads))
        return frame

    def stop(self) -> None:
        self._stopped.set()
        if self.readyState == "live" and not self._queue.full():
            self._queue.put_nowait(None)
        super().stop()


class PassthroughEncoder:
    """Takes aiortc's encoder slot in a sender: the frame's payloads go out as they came."""

    def pack(self, frame: EncodedFrame) -> tuple[list[bytes], int]:
        return list(frame.payloads), frame.timestamp

    def encode(self, frame: Any, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        return [], 0  # never given a raw frame: the forwarded track yields encoded ones


def forward_through(sender: RTCRtpSender, track: ForwardedVideoTrack) -> None:
    """Make `sender` send `track`'s frames unencoded and pass its keyframe requests on."""
    sender._RTCRtpSender__encoder = PassthroughEncoder()  # type: ignore[attr-defined]  # no API
    sender._send_keyframe = track.picture_lost  # type: ignore[method-assign]  # RTCP PLI/FIR hook
    send = sender.send

    async def send_with(parameters: RTCRtpSendParameters) -> None:
        if parameters.codecs:
            track.sending(parameters.codecs[0].mimeType)
        await send(parameters)

    sender.send = send_with  # type: ignore[method-assign]  # learn the negotiated codec


class VideoTap:
    """Takes a video receiver's packets (aiortc neither reassembles nor decodes them) and hands
    each frame to the subscribers' tracks."""

    def __init__(
        self,
        receiver: RTCRtpReceiver,
        *,
        counters: VideoCounters,
        on_first_frame: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.subscribers: dict[str, ForwardedVideoTrack] = {}
        self.counters = counters
        self._on_first_frame: Callable[[], None] | None = on_first_frame
        self._receiver = receiver
        self._clock = clock
        self._codecs: dict[int, str] = {}
        self._assemblers: dict[int, FrameAssembler] = {}
        self._ssrc: int | None = None
        self._last_request = -KEYFRAME_INTERVAL
        self._pending_request: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Future[None]] = set()
        receive = receiver.receive

        async def receive_with(parameters: RTCRtpReceiveParameters) -> None:
            self._codecs = {
                c.payloadType: c.mimeType.lower()
                for c in parameters.codecs
                if c.payloadType is not None
            }
            await receive(parameters)

        async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
            self.on_packet(packet)

        receiver.receive = receive_with  # type: ignore[method-assign]  # learn the payload types
        receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]  # no decode

    def on_packet(self, packet: RtpPacket) -> None:
        mime = self._codecs.get(packet.payload_type)
        if mime not in FORWARDED_CODECS or not packet.payload:
            return  # padding, or a codec we do not forward
        self.counters.packets += 1
        self._ssrc = packet.ssrc
        assembler = self._assemblers.get(packet.ssrc)
        if assembler is None:
            if len(self._assemblers) >= 4:  # a source changes SSRC rarely; keep the map small
                self._assemblers.clear()
            assembler = self._assemblers[packet.ssrc] = FrameAssembler()
        done = assembler.add(packet, self._clock())
        if done is None:
            return
        payloads, timestamp, complete = done
        if not complete or not payloads:
            self.counters.lost_frames += 1
            self.request_keyframe()  # the frames after a gap are undecodable until one comes
            return
        if self._on_first_frame is not None:  # the source is published once video flows
            self._on_first_frame()
            self._on_first_frame = None
        keyframe = is_keyframe(mime, payloads[0])
        frame = EncodedFrame(tuple(payloads), timestamp, keyframe, mime, assembler.started)
        for track in self.subscribers.values():
            if track.push(frame):
                self.counters.forwarded += len(payloads)

    def request_keyframe(self) -> None:
        """Ask the source for a keyframe: now, or when `KEYFRAME_INTERVAL` has passed since the
        last request (requests in between are folded into that one)."""
        if self._pending_request is not None:
            return
        wait = self._last_request + KEYFRAME_INTERVAL - self._clock()
        if wait > 0:
            self._pending_request = asyncio.get_running_loop().call_later(wait, self._send_pli)
        else:
            self._send_pli()

    def _send_pli(self) -> None:
        self._pending_request = None
        if self._ssrc is None:
            return  # nothing received yet: the first frames a browser sends are keyframes
        self._last_request = self._clock()
        self.counters.keyframe_requests += 1
        task = asyncio.ensure_future(self._receiver._send_rtcp_pli(self._ssrc))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def subscribe(self, subscriber_id: str, track: ForwardedVideoTrack) -> None:
        track.on_keyframe_needed = self.request_keyframe
        track.counters, track.clock = self.counters, self._clock  # the frames' arrival clock
        self.subscribers[subscriber_id] = track
        if track.mime is not None:
            self.request_keyframe()

    def unsubscribe(self, subscriber_id: str) -> ForwardedVideoTrack | None:
        track = self.subscribers.pop(subscriber_id, None)
        if track is not None:
            track.on_keyframe_needed = lambda: None
        return track

    def close(self) -> None:
        if self._pending_request is not None:
            self._pending_request.cancel()
            self._pending_request = None
