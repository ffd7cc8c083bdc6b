"""Video forwarding on real VP8 packets (aiortc's encoder makes them): keyframes found, frames
assembled and broken ones refused, a subscriber's track starting at a keyframe, dropping to the
next one when it falls behind, never going back in time across sources; the tap's keyframe
requests rate-limited per source; the graph's video limits."""

from __future__ import annotations

import asyncio
import fractions

import numpy as np
import pytest
from aiortc import RTCCertificate, RTCDtlsTransport, RTCIceGatherer, RTCIceTransport
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RtpPacket
from av import VideoFrame

from sfu.media.video import (
    KEYFRAME_INTERVAL,
    QUEUE_FRAMES,
    VP8,
    EncodedFrame,
    ForwardedVideoTrack,
    FrameAssembler,
    VideoCounters,
    VideoTap,
    h264_keyframe,
    vp8_keyframe,
)
from sfu.rooms.graph import ForwardingGraph, MediaKind, SourceKey

pytestmark = pytest.mark.asyncio


def vp8_frames(count: int) -> list[tuple[list[bytes], int]]:
    """`count` real VP8 frames (payloads, timestamp) of a moving bar; the first is a keyframe."""
    encoder = Vp8Encoder()
    frames = []
    for i in range(count):
        image = np.full((120, 160, 3), 64, np.uint8)
        image[:, i % 150 : i % 150 + 8] = 255
        frame = VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts, frame.time_base = i * 3000, fractions.Fraction(1, 90_000)
        frames.append(encoder.encode(frame, force_keyframe=False))
    return frames


def frame(timestamp: int, keyframe: bool) -> EncodedFrame:
    return EncodedFrame((b"x",), timestamp, keyframe, VP8)


async def test_keyframes_found_in_real_vp8_payloads() -> None:
    frames = vp8_frames(3)
    assert vp8_keyframe(frames[0][0][0])
    assert not vp8_keyframe(frames[1][0][0]) and not vp8_keyframe(frames[2][0][0])
    assert not vp8_keyframe(b"") and not vp8_keyframe(b"\x90")  # truncated: not a keyframe


async def test_h264_keyframes_in_single_stap_a_and_fu_a_units() -> None:
    assert h264_keyframe(bytes([0x65, 0])) and not h264_keyframe(bytes([0x41, 0]))
    stap = bytes([24, 0, 2, 0x67, 0, 0, 2, 0x68, 0])  # SPS then PPS
    assert h264_keyframe(stap)
    assert h264_keyframe(bytes([28, 0x85])) and not h264_keyframe(bytes([28, 0x05]))


async def test_assembler_completes_frames_and_refuses_one_with_a_gap() -> None:
    assembler = FrameAssembler()

    def packet(seq: int, ts: int, marker: bool) -> RtpPacket:
        return RtpPacket(payload_type=96, sequence_number=seq, timestamp=ts, marker=int(marker))

    assert assembler.add(packet(1, 100, False)) is None
    assert assembler.add(packet(2, 100, True)) == ([b"", b""], 100, True)
    assert assembler.add(packet(3, 200, False)) is None
    assert assembler.add(packet(5, 200, True)) == ([b"", b""], 200, False)  # 4 was lost
    assert assembler.add(packet(6, 300, True)) == ([b""], 300, True)


async def test_track_starts_at_a_keyframe_and_drops_to_the_next_when_behind() -> None:
    asked: list[int] = []
    track = ForwardedVideoTrack("ada")
    track.on_keyframe_needed = lambda: asked.append(1)
    track.sending("video/VP8")
    assert len(asked) == 1
    assert not track.push(frame(0, keyframe=False))  # no keyframe yet: nothing to decode from
    assert track.push(frame(3000, keyframe=True))
    for i in range(2, QUEUE_FRAMES + 1):
        assert track.push(frame(i * 3000, keyframe=False))
    asked.clear()
    assert not track.push(frame(99_000, keyframe=False))  # full: everything queued goes
    assert track.dropped == QUEUE_FRAMES + 1 and asked
    assert not track.push(frame(102_000, keyframe=False))  # still waiting for a keyframe
    assert track.push(frame(105_000, keyframe=True))
    assert (await track.recv()).keyframe


async def test_timestamps_never_go_back_when_the_source_changes() -> None:
    track = ForwardedVideoTrack("ada", pts_origin=1_000)
    track.sending("video/vp8")
    track.push(frame(50_000_000, keyframe=True))
    track.push(frame(50_003_000, keyframe=False))
    first = [(await track.recv()).timestamp for _ in range(2)]
    assert first == [1_000, 4_000]
    track.detach()
    track.attach("bob", pts_origin=0)  # a subscriber clock behind what was sent
    track.push(frame(7, keyframe=True))
    assert (await track.recv()).timestamp > first[-1]


def video_tap(counters: VideoCounters, now: list[float]) -> tuple[VideoTap, list[int]]:
    transport = RTCDtlsTransport(
        RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()]
    )
    receiver = RTCRtpReceiver("video", transport)
    plis: list[int] = []

    async def send_pli(ssrc: int) -> None:
        plis.append(ssrc)

    receiver._send_rtcp_pli = send_pli  # type: ignore[method-assign]  # RTCP out, recorded
    tap = VideoTap(receiver, counters=counters, on_first_frame=lambda: None, clock=lambda: now[0])
    tap._codecs = {96: VP8}
    return tap, plis


async def test_tap_forwards_frames_and_rate_limits_keyframe_requests() -> None:
    counters = VideoCounters()
    now = [100.0]
    tap, plis = video_tap(counters, now)
    track = ForwardedVideoTrack("ada")
    track.sending("video/vp8")
    tap.subscribe("bob", track)
    seq = 0
    for payloads, timestamp in vp8_frames(3):
        for i, payload in enumerate(payloads):
            packet = RtpPacket(96, marker=int(i == len(payloads) - 1), sequence_number=seq)
            packet.timestamp, packet.ssrc, packet.payload = timestamp, 1234, payload
            tap.on_packet(packet)
            seq += 1
    now[0] += 0.003  # the sender takes the first frame 3 ms after its first packet came
    assert counters.forwarded == seq and (await track.recv()).keyframe
    first = len(vp8_frames(1)[0][0])
    assert sum(counters.delay.counts) == first  # once per packet of the frame taken
    assert dict(counters.delay.cumulative())["0.002"] == 0
    assert dict(counters.delay.cumulative())["0.005"] == first
    for _ in range(5):
        tap.request_keyframe()  # many subscribers asking at once
    await asyncio.sleep(0)
    assert plis == [1234] and counters.keyframe_requests == 1
    now[0] += KEYFRAME_INTERVAL
    await asyncio.sleep(KEYFRAME_INTERVAL + 0.05)  # the folded request goes out at the interval
    assert plis == [1234, 1234]
    tap.close()


async def test_video_limit_per_subscriber_without_a_view() -> None:
    class Subscriber:
        def __init__(self, participant_id: str) -> None:
            self.id = participant_id

        def forwarding_changed(self) -> None:
            pass

    graph = ForwardingGraph(max_subscriber_video=2)
    for name in "abcde":
        graph.join(Subscriber(name))
        graph.publish(SourceKey(name, MediaKind.AUDIO), object())  # type: ignore[arg-type]
        graph.publish(SourceKey(name, MediaKind.CAMERA), object())  # type: ignore[arg-type]
    cameras = [k.participant for k in graph.wanted("e") if k.kind is MediaKind.CAMERA]
    audio = [k.participant for k in graph.wanted("e") if k.kind is MediaKind.AUDIO]
    assert cameras == ["a", "b"] and audio == ["a", "b", "c", "d"]
    assert [k.participant for k in graph.wanted("a") if k.kind.video] == ["b", "c"]
    graph.leave("a")  # the earliest goes: the next waiting camera is forwarded
    assert [k.participant for k in graph.wanted("e") if k.kind.video] == ["b", "c"]
