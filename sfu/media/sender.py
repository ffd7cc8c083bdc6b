"""Sending forwarded RTP from the packet tap's callback: no coroutine per packet per subscriber.

aiortc's `RTCRtpSender` pulls from its track in a task of its own (`_run_rtp`): each forwarded
packet woke one coroutine per subscriber, which built an `RtpPacket`, serialized it and awaited
three layers of transport coroutines that never suspend. In a room of 150 that was most of the
server's CPU (scripts/bench_sfu.py: 9,671 forwarded packets per CPU-second, issue 19 asks for
20,000). Here the tap's callback does each subscriber's work in line: `RtpRewriter` (sans-I/O)
gives the packet the sender's SSRC, payload type, sequence number and timestamp and the header
extensions aiortc's sender adds, and `DirectSender` protects it (SRTP) and hands it to the
subscriber's datagram transport.

aiortc's sender keeps everything else: its SSRC and the negotiation (it is `send` that tells us
the payload type, the MID and the header extension ids), receiver reports, RTT, BYE. Its own RTP
loop idles: the forwarded track never yields a packet (`recv` returns only when it stops).

RTCP sender reports (RFC 3550 section 6.4.1) must stay right: browsers map each SR's NTP time to
its RTP timestamp to play a sender's audio and video in sync, and read its packet and octet
counts into their stats. aiortc's `_run_rtcp` builds them from four counters that `_run_rtp`
updates after each packet; `DirectSender` updates the same four after each packet it sends, with
the same meaning (the NTP time at sending, the packet's RTP timestamp, packets, payload octets),
so aiortc's reports, its RTT estimate (from the receiver reports' LSR) and getStats stay as they
were. They are name-mangled private attributes of aiortc 1.16 (pinned; tests/sfu/test_sender.py
reads a sender report back), reached through `vars(sender)`: a subclass cannot take their place
because `RTCPeerConnection` creates its senders itself.

The transport: `RTCDtlsTransport._send_rtp` is `_tx_srtp.protect` and then the ICE connection's
nominated pair's `sendto`, through coroutines that never suspend; `DirectSender` makes the same
calls without them (the private `_tx_srtp` of the DTLS transport, and aioice's `_nominated` pair
of the ICE transport's `_connection`), which also lets it see the datagram transport's write
buffer: asyncio buffers a datagram the socket refused without limit, so a subscriber whose buffer
holds more than `WRITE_BUFFER_LIMIT` loses the packet instead (counted as dropped, like a packet
sent to a transport that closed), and nobody else is slowed.

Video too (`send_frame`: a frame's packets, the marker bit on its last). aiortc's sender answers
a NACK from its own packet history, which only its loop fills: `DirectSender` keeps that history
itself for a video sender and takes the sender's `_retransmit` hook (private, as above).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Callable, Sequence

from aiortc import RTCRtpSender
from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import (
    RTP_HISTORY_SIZE,
    HeaderExtensionsMap,
    RtpPacket,
    pack_header_extensions,
    wrap_rtx,
)
from aiortc.utils import random32

logger = logging.getLogger(__name__)

# RFC 8285 extension URIs that aiortc's sender writes into every packet it sends.
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP's epoch) to 1970-01-01
WRITE_BUFFER_LIMIT = 64 * 1024  # bytes waiting in a subscriber's datagram transport
_HEADER = struct.Struct("!BBHII")  # RFC 3550 section 5.1, no CSRC
_SEQUENCE = struct.Struct("!H")
_VERSION_WITH_EXTENSION = 0x90  # V=2, P=0, X=1, CC=0
_VERSION = 0x80

# aiortc 1.16's sender report counters (module docstring).
_NTP_TIMESTAMP = "_RTCRtpSender__ntp_timestamp"
_RTP_TIMESTAMP = "_RTCRtpSender__rtp_timestamp"
_OCTET_COUNT = "_RTCRtpSender__octet_count"
_PACKET_COUNT = "_RTCRtpSender__packet_count"


def ntp_time(wall: float) -> int:
    """`wall` (seconds since 1970, `time.time()`) as a 64-bit NTP timestamp (RFC 5905 6)."""
    return int((wall + NTP_UNIX_OFFSET) * (1 << 32))


class RtpRewriter:
    """One sender's outbound RTP stream: a forwarded payload in, the packet to protect out.

    The sequence numbers are the sender's own, one per packet from a random start (as aiortc's);
    the timestamps are the caller's rebased ones (`pts`, which never go back) plus a random origin.
    Header extensions as aiortc's sender writes them: the MID (RFC 9143 section 15.1, which a
    browser needs to find the packet's media section in a BUNDLE) and the abs-send-time (which
    Chromium's bandwidth estimation reads), each where negotiated."""

    def __init__(
        self,
        *,
        ssrc: int,
        payload_type: int,
        extension_ids: dict[str, int],
        mid: str | None,
        sequence_number: int = 0,
        timestamp_origin: int = 0,
    ) -> None:
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.sequence_number = sequence_number
        self.timestamp_origin = timestamp_origin
        self.timestamp = timestamp_origin  # of the last packet
        mid_id = extension_ids.get(MID_URI)
        abs_id = extension_ids.get(ABS_SEND_TIME_URI)
        extensions: list[tuple[int, bytes]] = []
        if mid_id and mid is not None:
            extensions.append((mid_id, mid.encode("utf8")))
        # The abs-send-time's value changes per packet: packed as zeros, patched in `packet`.
        self._abs_at: int | None = None
        if abs_id:
            extensions.append((abs_id, b"\x00\x00\x00"))
        profile, value = pack_header_extensions(extensions)
        block = struct.pack("!HH", profile, len(value) >> 2) + value if extensions else b""
        if abs_id:
            self._abs_at = len(block) - len(value) + _value_offset(extensions, profile)
        self._first_byte = _VERSION_WITH_EXTENSION if block else _VERSION
        self._extensions = block

    @classmethod
    def negotiated(
        cls, parameters: RTCRtpSendParameters, ssrc: int, *, sequence_number: int, origin: int
    ) -> RtpRewriter:
        """The stream that `parameters` (what `RTCRtpSender.send` is given) describe."""
        payload_type = parameters.codecs[0].payloadType
        if payload_type is None:
            raise ValueError("the negotiated codec has no payload type")
        return cls(
            ssrc=ssrc,
            payload_type=payload_type,
            extension_ids={e.uri: e.id for e in parameters.headerExtensions},
            mid=parameters.muxId,
            sequence_number=sequence_number,
            timestamp_origin=origin,
        )

    def packet(self, payload: bytes, pts: int, *, ntp: int, marker: bool = False) -> bytes:
        """The next packet: `payload` at `pts` (the stream's clock, from 0), sent at `ntp`."""
        sequence_number = self.sequence_number
        self.sequence_number = (sequence_number + 1) & 0xFFFF
        self.timestamp = timestamp = (self.timestamp_origin + pts) & 0xFFFFFFFF
        header = _HEADER.pack(
            self._first_byte,
            (0x80 if marker else 0) | self.payload_type,
            sequence_number,
            timestamp,
            self.ssrc,
        )
        extensions = self._extensions
        at = self._abs_at
        if at is not None:
            # abs-send-time: 6.18 fixed-point seconds, the NTP time's middle 24 bits.
            send_time = ((ntp >> 14) & 0xFFFFFF).to_bytes(3, "big")
            extensions = extensions[:at] + send_time + extensions[at + 3 :]
        return header + extensions + payload


def _value_offset(extensions: list[tuple[int, bytes]], profile: int) -> int:
    """Where the last extension's value starts in `pack_header_extensions`' value."""
    per_element = 1 if profile == 0xBEDE else 2  # one-byte or two-byte headers, RFC 8285 4.2/4.3
    offset = 0
    for _, value in extensions[:-1]:
        offset += per_element + len(value)
    return offset + per_element


class DirectSender:
    """Sends a forwarded track's packets on an aiortc sender's stream, synchronously.

    Until aiortc starts the sender (`send`, at the negotiation that added it) and its DTLS
    transport connects, it is not `ready`: the track holds what it is given until then.

    For video it keeps the last `RTP_HISTORY_SIZE` packets, as aiortc's sender does, and answers
    a receiver's NACK (RFC 4585 section 6.2.1) in aiortc's place: from RTX where negotiated (RFC
    4588 section 4), else the packet again."""

    def __init__(self, sender: RTCRtpSender) -> None:
        self.sender = sender
        self.on_ready: Callable[[], None] | None = None  # once started: the track flushes
        self.rewriter: RtpRewriter | None = None
        self.retransmitted = 0
        self._counters = vars(sender)  # the sender report's counters (module docstring)
        if _PACKET_COUNT not in self._counters:
            raise RuntimeError("aiortc's RTCRtpSender changed: see sfu/media/sender.py")
        self._history: dict[int, bytes] | None = {} if sender.kind == "video" else None
        self._extensions = HeaderExtensionsMap()
        self._rtx_payload_type: int | None = None
        self._rtx_sequence_number = random_sequence_number()
        send = sender.send

        async def send_with(parameters: RTCRtpSendParameters) -> None:
            await send(parameters)
            if self.rewriter is None and parameters.codecs:  # aiortc starts a sender once
                self._started(parameters)

        sender.send = send_with  # type: ignore[method-assign]  # learn the negotiated stream
        if self._history is not None:
            sender._retransmit = self._retransmit  # type: ignore[method-assign]  # NACK hook

    def _started(self, parameters: RTCRtpSendParameters) -> None:
        self.rewriter = RtpRewriter.negotiated(
            parameters,
            self.sender._ssrc,
            sequence_number=random_sequence_number(),
            origin=random32(),
        )
        self._extensions.configure(parameters)
        primary = parameters.codecs[0].payloadType
        for codec in parameters.codecs:
            if is_rtx(codec) and codec.parameters.get("apt") == primary:
                self._rtx_payload_type = codec.payloadType
        if self.on_ready is not None:
            self.on_ready()

    @property
    def ready(self) -> bool:
        return self.rewriter is not None and self.sender.transport.state == "connected"

    def send(self, payload: bytes, pts: int) -> bool:
        """Send `payload` at `pts`; False when the transport cannot take it (closed, or its
        write buffer over `WRITE_BUFFER_LIMIT`): the packet is lost. Call once `ready`."""
        # Marker set on every packet, as aiortc's sender sets it on a frame's last (here only) one.
        return self.send_frame((payload,), pts)

    def send_frame(self, payloads: Sequence[bytes], pts: int) -> bool:
        """Send one frame's packets at `pts`, the marker bit on the last (RFC 7741 section 4.1,
        RFC 6184 section 5.1); False when the transport cannot take it: none is sent."""
        rewriter, out = self.rewriter, self._output()
        if rewriter is None or out is None:
            return False
        protect, datagrams, address = out
        ntp = ntp_time(time.time())
        history = self._history
        last = len(payloads) - 1
        octets = 0
        for i, payload in enumerate(payloads):
            data = rewriter.packet(payload, pts, ntp=ntp, marker=i == last)
            if history is not None:
                history[(rewriter.sequence_number - 1) % RTP_HISTORY_SIZE] = data
            datagrams.sendto(protect(data), address)
            octets += len(payload)
        counters = self._counters
        counters[_NTP_TIMESTAMP] = ntp
        counters[_RTP_TIMESTAMP] = rewriter.timestamp
        counters[_OCTET_COUNT] += octets
        counters[_PACKET_COUNT] += len(payloads)
        return True

    def _output(
        self,
    ) -> tuple[Callable[[bytes], bytes], asyncio.DatagramTransport, tuple[str, int]] | None:
        """SRTP protect, the datagram transport and the address of the subscriber, or None
        when the transport cannot take a packet now (closed, or its write buffer over
        `WRITE_BUFFER_LIMIT`)."""
        dtls = self.sender.transport
        srtp = dtls._tx_srtp
        # aioice forgets its nominated pair when the connection closes.
        pair = dtls.transport._connection._nominated.get(1)
        if srtp is None or pair is None:
            return None
        datagrams = pair.protocol.transport
        # asyncio's selector transports have it; typeshed's DatagramTransport does not say so.
        buffered: int = datagrams.get_write_buffer_size()  # type: ignore[attr-defined]
        if buffered > WRITE_BUFFER_LIMIT or datagrams.is_closing():
            return None
        return srtp.protect, datagrams, pair.remote_addr

    async def _retransmit(self, sequence_number: int) -> None:
        """A receiver lost packet `sequence_number` (aiortc's sender calls this per NACKed one)."""
        data = (self._history or {}).get(sequence_number % RTP_HISTORY_SIZE)
        out = self._output()
        if data is None or out is None or _SEQUENCE.unpack_from(data, 2)[0] != sequence_number:
            return  # long gone
        if self._rtx_payload_type is not None:
            rtx = wrap_rtx(
                RtpPacket.parse(data, self._extensions),
                payload_type=self._rtx_payload_type,
                sequence_number=self._rtx_sequence_number,
                ssrc=self.sender._rtx_ssrc,
            )
            self._rtx_sequence_number = (self._rtx_sequence_number + 1) & 0xFFFF
            data = rtx.serialize(self._extensions)
        protect, datagrams, address = out
        datagrams.sendto(protect(data), address)
        self.retransmitted += 1
