"""The direct send path: the RTP each subscriber gets (header rewriting, rebasing, what is held
until its sender starts) and, over real aiortc peers on loopback, the packets and sender reports
a receiver sees."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import (
    RTCP_RTPFB_NACK,
    HeaderExtensionsMap,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
)

from sfu.media.counters import ForwardingCounters
from sfu.media.forwarding import QUEUE_PACKETS, ForwardedAudioTrack
from sfu.media.ice import restrict_host_addresses, rtc_configuration
from sfu.media.sender import ABS_SEND_TIME_URI, MID_URI, DirectSender, RtpRewriter, ntp_time
from sfu.media.video import VP8, EncodedFrame, ForwardedVideoTrack, forward_through

from .fakes import RecordingFrameOutlet, RecordingOutlet

EXTENSIONS = {MID_URI: 1, ABS_SEND_TIME_URI: 3}


def parse(data: bytes, extension_ids: dict[str, int]) -> RtpPacket:
    """`data` as aiortc's receiver reads it, with the extensions negotiated as `extension_ids`."""
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=i, uri=uri) for uri, i in extension_ids.items()
            ]
        )
    )
    return RtpPacket.parse(data, extensions)


def test_the_header_is_the_senders_and_the_extensions_are_aiortcs() -> None:
    rewriter = RtpRewriter(
        ssrc=0xDEADBEEF,
        payload_type=111,
        extension_ids=EXTENSIONS,
        mid="3",
        sequence_number=0xFFFE,
        timestamp_origin=0xFFFFFF00,
    )
    ntp = ntp_time(1_700_000_000.25)
    packets = [
        parse(rewriter.packet(b"opus%d" % i, 960 * i, ntp=ntp, marker=True), EXTENSIONS)
        for i in range(3)
    ]
    assert [p.sequence_number for p in packets] == [0xFFFE, 0xFFFF, 0]  # wraps, never skips
    assert [p.timestamp for p in packets] == [0xFFFFFF00, 960 - 256, 1920 - 256]  # mod 2^32
    assert {(p.ssrc, p.payload_type, p.marker) for p in packets} == {(0xDEADBEEF, 111, 1)}
    assert [p.payload for p in packets] == [b"opus0", b"opus1", b"opus2"]
    assert {p.extensions.mid for p in packets} == {"3"}
    assert {p.extensions.abs_send_time for p in packets} == {(ntp >> 14) & 0xFFFFFF}
    assert rewriter.timestamp == 1920 - 256  # the last packet's, for the sender report


def test_only_the_negotiated_extensions_are_written() -> None:
    bare = RtpRewriter(ssrc=1, payload_type=111, extension_ids={}, mid="0")
    data = bare.packet(b"opus", 0, ntp=0)
    assert len(data) == 12 + 4 and data[0] == 0x80  # no X bit, no extension block
    mid_only = RtpRewriter(ssrc=1, payload_type=111, extension_ids={MID_URI: 9}, mid="10")
    packet = parse(mid_only.packet(b"opus", 0, ntp=0), {MID_URI: 9, ABS_SEND_TIME_URI: 3})
    assert (packet.extensions.mid, packet.extensions.abs_send_time) == ("10", None)
    assert packet.marker == 0 and packet.payload == b"opus"


def test_two_byte_extension_headers_where_an_id_is_past_14() -> None:
    ids = {MID_URI: 15, ABS_SEND_TIME_URI: 2}  # RFC 8285 section 4.3
    rewriter = RtpRewriter(ssrc=1, payload_type=111, extension_ids=ids, mid="1")
    ntp = ntp_time(1_700_000_123.5)
    packet = parse(rewriter.packet(b"opus", 0, ntp=ntp), ids)
    assert packet.extensions.mid == "1"
    assert packet.extensions.abs_send_time == (ntp >> 14) & 0xFFFFFF


def routed(outlet: RecordingOutlet) -> tuple[ForwardedAudioTrack, ForwardingCounters]:
    track = ForwardedAudioTrack("ada", pts_origin=48_000)
    track.send_through(outlet)
    track.counters = ForwardingCounters()
    return track, track.counters


def test_packets_wait_for_the_sender_then_go_in_order() -> None:
    outlet = RecordingOutlet(ready=False)
    track, counters = routed(outlet)
    for i in range(3):
        track.push(b"p%d" % i, 5000 + 960 * i)
    assert outlet.sent == [] and track.held == 3 and counters.forwarded == 0
    outlet.ready = True
    assert outlet.on_ready == track.flush  # the sender starting flushes the track
    track.flush()
    track.push(b"p3", 5000 + 960 * 3)
    assert outlet.sent == [(b"p%d" % i, 48_000 + 960 * i) for i in range(4)]
    assert (track.held, counters.forwarded, track.dropped) == (0, 4, 0)


def test_what_is_held_is_bounded_and_the_oldest_go_first() -> None:
    outlet = RecordingOutlet(ready=False)
    track, _ = routed(outlet)
    for i in range(QUEUE_PACKETS + 2):
        track.push(b"p%d" % i, 960 * i)
    assert (track.held, track.dropped) == (QUEUE_PACKETS, 2)
    outlet.ready = True
    track.flush()
    assert outlet.sent[0] == (b"p2", 48_000 + 2 * 960)


def test_a_transport_that_refuses_loses_the_packet_and_counts_it() -> None:
    outlet = RecordingOutlet()
    track, counters = routed(outlet)
    outlet.accepts = False
    track.push(b"lost", 0)
    outlet.accepts = True
    track.push(b"sent", 960)
    assert outlet.sent == [(b"sent", 48_960)]
    assert (track.dropped, counters.forwarded, track.held) == (1, 1, 0)


def test_timestamps_never_go_back_on_the_sender_across_sources() -> None:
    outlet = RecordingOutlet()
    track, _ = routed(outlet)
    track.push(b"a", 100_000)
    track.push(b"a", 100_960)
    track.push(b"a", 100_000)  # reordered: the receiver has played past it
    track.detach()
    track.push(b"a", 101_920)  # detached: nobody's
    track.attach("bob", pts_origin=0)  # a clock behind what was sent: starts after it
    track.push(b"b", 7)
    assert outlet.pts == [48_000, 48_960, 48_961]


@pytest.mark.asyncio
async def test_a_receiver_gets_the_packets_and_sender_reports_that_count_them() -> None:
    """Real aiortc peers on loopback: what the direct path sends is what aiortc's receiver reads
    (SSRC, MID, timestamps), and aiortc's sender reports count it (RFC 3550 section 6.4.1)."""
    restrict_host_addresses(["127.0.0.1"])
    server, client = RTCPeerConnection(rtc_configuration()), RTCPeerConnection(rtc_configuration())
    track = ForwardedAudioTrack("ada", pts_origin=0)
    direct = DirectSender(server.addTrack(track))
    track.send_through(direct)
    received: list[RtpPacket] = []
    reports: list[RtcpSrPacket] = []
    got_report = asyncio.Event()
    try:
        track.push(b"held", 0)  # before the sender starts: held, then sent
        await server.setLocalDescription(await server.createOffer())
        await client.setRemoteDescription(server.localDescription)
        receiver = client.getTransceivers()[0].receiver

        async def on_rtp(packet: RtpPacket, arrival_time_ms: int) -> None:
            received.append(packet)

        async def on_rtcp(packet: object) -> None:
            if isinstance(packet, RtcpSrPacket) and packet.sender_info.packet_count >= 4:
                reports.append(packet)
                got_report.set()

        receiver._handle_rtp_packet = on_rtp  # type: ignore[method-assign]  # see what arrives
        receiver._handle_rtcp_packet = on_rtcp  # type: ignore[method-assign]
        await client.setLocalDescription(await client.createAnswer())
        await server.setRemoteDescription(client.localDescription)
        while not direct.ready:  # DTLS connecting
            await asyncio.sleep(0.01)
        for i in range(1, 4):
            track.push(b"opus%d" % i, 960 * i)
        await asyncio.wait_for(got_report.wait(), 5)
    finally:
        await client.close()
        await server.close()
    assert [p.payload for p in received] == [b"held", b"opus1", b"opus2", b"opus3"]
    rewriter = direct.rewriter
    assert rewriter is not None
    assert {p.ssrc for p in received} == {rewriter.ssrc}
    assert {p.extensions.mid for p in received} == {server.getTransceivers()[0].mid}
    first = received[0].timestamp
    assert [(p.timestamp - first) % (1 << 32) for p in received] == [0, 960, 1920, 2880]
    sequence = [p.sequence_number for p in received]
    assert sequence == [(sequence[0] + i) & 0xFFFF for i in range(4)]
    report = reports[0]
    assert report.ssrc == rewriter.ssrc
    assert (report.sender_info.packet_count, report.sender_info.octet_count) == (4, 4 + 3 * 5)
    assert report.sender_info.rtp_timestamp == received[-1].timestamp


def video_frame(timestamp: int, *, keyframe: bool) -> EncodedFrame:
    return EncodedFrame((b"first", b"last"), timestamp, keyframe, VP8)


def test_video_frames_go_at_once_and_one_refused_waits_for_a_keyframe() -> None:
    outlet = RecordingFrameOutlet(ready=False)
    track = ForwardedVideoTrack("ada", pts_origin=90_000)
    asked: list[int] = []
    track.on_keyframe_needed = lambda: asked.append(1)
    track.sending("video/vp8")
    track.send_through(outlet)
    assert track.push(video_frame(1_000, keyframe=True))  # queued: the sender is not started
    outlet.ready = True
    track.flush()
    assert track.push(video_frame(4_000, keyframe=False))
    assert outlet.sent == [((b"first", b"last"), 90_000), ((b"first", b"last"), 93_000)]
    asked.clear()
    outlet.accepts = False
    assert not track.push(video_frame(7_000, keyframe=False))  # the transport refuses it
    outlet.accepts = True
    assert asked and track.dropped == 1
    assert not track.push(video_frame(10_000, keyframe=False))  # undecodable without a keyframe
    assert track.push(video_frame(13_000, keyframe=True))
    assert [pts for _, pts in outlet.sent] == [90_000, 93_000, 102_000]


@pytest.mark.asyncio
async def test_video_packets_carry_the_marker_on_a_frames_last_and_a_nack_gets_rtx() -> None:
    """Real aiortc peers: a frame's packets, the marker bit on its last (RFC 7741 section 4.1);
    a NACK answered from the sender's history as RTX (RFC 4588 section 4)."""
    restrict_host_addresses(["127.0.0.1"])
    server, client = RTCPeerConnection(rtc_configuration()), RTCPeerConnection(rtc_configuration())
    track = ForwardedVideoTrack("ada", pts_origin=0)
    sender = server.addTransceiver(track, direction="sendonly").sender
    forward_through(sender, track)
    direct = DirectSender(sender)
    track.send_through(direct)
    received: list[RtpPacket] = []
    arrived = asyncio.Event()
    try:
        await server.setLocalDescription(await server.createOffer())
        await client.setRemoteDescription(server.localDescription)

        async def on_rtp(packet: RtpPacket, arrival_time_ms: int) -> None:
            received.append(packet)
            if len(received) in (3, 4):
                arrived.set()

        receiver = client.getTransceivers()[0].receiver
        receiver._handle_rtp_packet = on_rtp  # type: ignore[method-assign]  # see what arrives
        await client.setLocalDescription(await client.createAnswer())
        await server.setRemoteDescription(client.localDescription)
        while not direct.ready:  # DTLS connecting
            await asyncio.sleep(0.01)
        track.push(EncodedFrame((b"a", b"b", b"c"), 3000, True, VP8))
        await asyncio.wait_for(arrived.wait(), 5)
        arrived.clear()
        lost = received[1].sequence_number
        nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=1, media_ssrc=sender._ssrc)
        nack.lost.append(lost)
        await sender._handle_rtcp_packet(nack)
        await asyncio.wait_for(arrived.wait(), 5)
    finally:
        await client.close()
        await server.close()
    assert [(p.payload, p.marker) for p in received[:3]] == [(b"a", 0), (b"b", 0), (b"c", 1)]
    rtx = received[3]
    assert rtx.ssrc == sender._rtx_ssrc and rtx.payload == lost.to_bytes(2, "big") + b"b"
    assert rtx.timestamp == received[1].timestamp and direct.retransmitted == 1
