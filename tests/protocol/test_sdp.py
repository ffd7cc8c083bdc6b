import pytest

from protocol import ErrorCode, ProtocolError
from protocol.sdp import keep_candidates, validate_offer

OFFER = "\r\n".join(
    [
        "v=0",
        "o=- 1 1 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "a=rtpmap:111 opus/48000/2",
        "a=candidate:1 1 udp 2130706431 192.168.1.20 50000 typ host",
        "a=candidate:2 1 udp 2130706431 127.0.0.1 50001 typ host",
        "a=candidate:3 1 udp 2130706431 abcd.local 50002 typ host",
        "a=candidate:4 1 udp 2130706431 ::1 50003 typ host",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "",
    ]
)


def test_valid_offer_passes() -> None:
    validate_offer(OFFER)


@pytest.mark.parametrize(
    ("sdp", "needle"),
    [
        ("garbage", "v=0"),
        ("v=0\r\nthis is not sdp\r\n", "invalid SDP line"),
        ("v=0\r\ns=-\r\n", "no media"),
        (OFFER.replace("m=application 9 UDP/DTLS/SCTP webrtc-datachannel", ""), "data-channel"),
        (OFFER.replace("opus/48000/2", "PCMU/8000"), "Opus"),
        (OFFER + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", "exactly one audio"),
    ],
)
def test_invalid_offers(sdp: str, needle: str) -> None:
    with pytest.raises(ProtocolError) as info:
        validate_offer(sdp)
    assert info.value.code is ErrorCode.BAD_REQUEST and needle in info.value.message


def test_keep_candidates_drops_every_other_address() -> None:
    kept = keep_candidates(OFFER, ["127.0.0.1"])
    candidates = [line for line in kept.splitlines() if line.startswith("a=candidate")]
    assert candidates == ["a=candidate:2 1 udp 2130706431 127.0.0.1 50001 typ host"]
    assert "m=application" in kept
