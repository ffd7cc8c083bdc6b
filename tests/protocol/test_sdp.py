import pytest

from protocol import ErrorCode, ProtocolError
from protocol.sdp import (
    keep_candidates,
    validate_answer,
    validate_offer,
    video_sources,
    with_opus_dtx,
)


def _without(sdp: str, prefix: str) -> str:
    return "\r\n".join(line for line in sdp.split("\r\n") if not line.startswith(prefix))


OFFER = "\r\n".join(
    [
        "v=0",
        "o=- 1 1 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "a=fingerprint:sha-256 79:A3:3D:56:E6:7F:D9:D3:71:73:93:7C:C5:A8:3B:8C:BB:EB:68:11",
        "a=ice-ufrag:76f8d367",
        "a=ice-pwd:0123456789abcdef0123456789abcdef",
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


VIDEO = "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:{mid}\r\na=rtpmap:96 VP8/90000\r\n"
H264_ONLY = "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:v9\r\na=rtpmap:102 H264/90000\r\n"


def test_valid_offer_passes() -> None:
    validate_offer(OFFER)
    validate_offer(OFFER + VIDEO.format(mid="cam") + VIDEO.format(mid="scr"))


def test_video_sources_by_place() -> None:
    sdp = OFFER + VIDEO.format(mid="cam") + VIDEO.format(mid="scr")
    assert video_sources(sdp) == {"cam": "camera", "scr": "screen"}
    assert video_sources(OFFER) == {}


@pytest.mark.parametrize(
    ("sdp", "needle"),
    [
        ("garbage", "v=0"),
        ("v=0\r\nthis is not sdp\r\n", "invalid SDP line"),
        ("v=0\r\ns=-\r\n", "no media"),
        (OFFER.replace("m=application 9 UDP/DTLS/SCTP webrtc-datachannel", ""), "data-channel"),
        (OFFER.replace("opus/48000/2", "PCMU/8000"), "Opus"),
        (OFFER + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", "exactly one audio"),
        # aiortc takes an offer without a fingerprint, then its connect task dies (issue 19).
        (_without(OFFER, "a=fingerprint"), "has no a=fingerprint"),
        (OFFER + "".join(VIDEO.format(mid=m) for m in "abc"), "3 video sections; at most 2"),
        (OFFER + H264_ONLY, "'v9' does not offer VP8"),
        # A video section without its transport (no session-level fingerprint to fall back on).
        (_without(OFFER, "a=fingerprint") + VIDEO.format(mid="cam"), "has no a=fingerprint"),
        (_without(OFFER, "a=ice-pwd"), "has no a=ice-pwd"),
        (OFFER.replace("t=0 0", "t=0 0\r\na=setup:holdconn"), "a=setup:holdconn"),
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


def test_transport_attributes_may_come_from_the_tagged_section_of_a_bundle() -> None:
    bundled = OFFER.replace("t=0 0", "t=0 0\r\na=group:BUNDLE 0 1")
    head, _, rest = bundled.partition("m=audio")
    credentials = [line for line in head.split("\r\n") if line.startswith(("a=ice", "a=fing"))]
    head = _without(head, "a=ice")
    head = _without(head, "a=fing")
    sdp = (
        head
        + "m=audio"
        + rest.replace(
            "a=rtpmap:111 opus/48000/2",
            "\r\n".join(["a=rtpmap:111 opus/48000/2", "a=mid:0", *credentials]),
        ).replace("webrtc-datachannel", "webrtc-datachannel\r\na=mid:1")
    )
    validate_offer(sdp)  # mid 1 has no credentials of its own: the group's tagged section's hold
    unbundled = _without(sdp, "a=group:BUNDLE")
    with pytest.raises(ProtocolError, match="media section '1' has no a=ice-ufrag"):
        validate_offer(unbundled)


def test_an_answer_must_choose_a_dtls_role() -> None:
    answer = OFFER.replace("t=0 0", "t=0 0\r\na=setup:actpass")
    with pytest.raises(ProtocolError, match="not one of active, passive in an answer"):
        validate_answer(answer)
    validate_answer(answer.replace("a=setup:actpass", "a=setup:active"))


def test_our_sdp_asks_for_opus_dtx() -> None:
    """`usedtx=1` joins each Opus fmtp of an audio section (a line added where there is none);
    nothing else changes, and asking twice is asking once."""
    sdp = (
        OFFER.replace(
            "a=rtpmap:111 opus/48000/2",
            "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1;usedtx=0",
        )
        + VIDEO.format(mid="v1")
        + "m=audio 9 UDP/TLS/RTP/SAVPF 109\r\na=rtpmap:109 opus/48000/2\r\n"
    )
    out = with_opus_dtx(sdp)
    assert "a=fmtp:111 minptime=10;useinbandfec=1;usedtx=1" in out.split("\r\n")
    lines = out.rstrip("\r\n").split("\r\n")
    assert lines[lines.index("a=rtpmap:109 opus/48000/2") + 1] == "a=fmtp:109 usedtx=1"
    assert with_opus_dtx(out) == out
    changed = {line for line in lines if "usedtx" in line}
    assert [line for line in lines if line not in changed] == [
        line for line in sdp.rstrip("\r\n").split("\r\n") if "usedtx" not in line
    ]
    assert "usedtx" not in with_opus_dtx(VIDEO.format(mid="v2").join(["v=0\r\n", ""]))
