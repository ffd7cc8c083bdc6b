"""What a speaking test client sent, packet by packet: its Opus payloads (which the server
forwards untouched, so a listener's payloads say exactly which packets arrived) and the audio
level each carried (RFC 6464), in the order sent."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket, is_rtcp

from client import CaptionClient
from protocol.jsep import extmap_ids
from sfu.media.speaking import SpeakingConfig

AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
VOICED_DBOV = SpeakingConfig().threshold_dbov


@dataclass(frozen=True)
class Sent:
    payload: bytes
    level: int | None  # -dBov
    at: float  # time.monotonic() when sent

    @property
    def voiced(self) -> bool:
        return self.level is not None and self.level <= VOICED_DBOV


def record_sent(speaker: CaptionClient) -> list[Sent]:
    """From now on, every RTP packet `speaker` sends, appended to the list returned. The hook is
    the speaker's DTLS transport (aiortc 1.16, pinned): the packet as serialised, before SRTP."""
    assert speaker.pc is not None and speaker.pc.localDescription is not None
    extensions = HeaderExtensionsMap()
    ids = extmap_ids(speaker.pc.localDescription.sdp)
    assert AUDIO_LEVEL in ids, "the client sends no audio level: nothing to gate on"
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[RTCRtpHeaderExtensionParameters(id=ids[AUDIO_LEVEL], uri=AUDIO_LEVEL)]
        )
    )
    sent: list[Sent] = []
    transport = speaker.pc.getSenders()[0].transport
    original = transport._send_rtp

    async def send_rtp(data: bytes) -> None:
        if not is_rtcp(data):  # RTCP leaves through the same door
            packet = RtpPacket.parse(data, extensions)
            level = packet.extensions.audio_level
            if packet.payload:
                level_dbov = level[1] if level is not None else None
                sent.append(Sent(packet.payload, level_dbov, time.monotonic()))
        await original(data)

    transport._send_rtp = send_rtp
    return sent


def utterances(sent: list[Sent]) -> list[list[Sent]]:
    """The runs of voiced packets, split where more than a second (50 packets) was not voiced."""
    runs: list[list[Sent]] = []
    quiet = 51
    for packet in sent:
        if packet.voiced:
            if quiet > 50:
                runs.append([])
            runs[-1].append(packet)
            quiet = 0
        else:
            quiet += 1
    return runs
