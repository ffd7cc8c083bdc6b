"""Under BUNDLE only the tagged section's transport attributes count (RFC 8843)."""

from protocol.bundle import tagged_attribute, with_bundle_transport
from protocol.sdptext import attribute, split

# Firefox ESR 153's answer to a server re-offer that added mid 2 (as our server logged it, with
# its ice-pwd and fingerprint shortened): candidates only in mid 0, a=setup:active in mid 2.
FIREFOX_ANSWER = "\r\n".join(
    [
        "v=0",
        "o=mozilla...THIS_IS_SDPARTA-99.0 8392332439059506646 2 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "a=sendrecv",
        "a=fingerprint:sha-256 AD:3D:BE:60:A6:6A:B3:84:49:13:49:E0:D6:CA:C5:D0:69:86:42:69",
        "a=group:BUNDLE 0 1 2",
        "a=ice-options:trickle",
        "a=msid-semantic:WMS *",
        "m=audio 55381 UDP/TLS/RTP/SAVPF 109 9 0 8",
        "c=IN IP4 192.0.2.2",
        "a=candidate:0 1 UDP 2122055935 127.0.0.1 43375 typ host",
        "a=candidate:2 1 UDP 2122187007 192.0.2.2 55381 typ host",
        "a=sendrecv",
        "a=end-of-candidates",
        "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1",
        "a=ice-pwd:68fb2ede7150e8cd049e7a8eb5bae5f5",
        "a=ice-ufrag:ae554cab",
        "a=mid:0",
        "a=msid:- {eb645a10-8fed-486c-8cb3-fa3f4fe62d11}",
        "a=rtcp-mux",
        "a=rtpmap:109 opus/48000/2",
        "a=setup:passive",
        "a=ssrc:4234516541 cname:{052f1ef6-da0c-449e-919e-68e85665dbe1}",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "c=IN IP4 0.0.0.0",
        "a=sendrecv",
        "a=ice-pwd:68fb2ede7150e8cd049e7a8eb5bae5f5",
        "a=ice-ufrag:ae554cab",
        "a=mid:1",
        "a=setup:passive",
        "a=sctp-port:5000",
        "m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8",
        "c=IN IP4 0.0.0.0",
        "a=recvonly",
        "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=ice-pwd:68fb2ede7150e8cd049e7a8eb5bae5f5",
        "a=ice-ufrag:ae554cab",
        "a=mid:2",
        "a=rtcp-mux",
        "a=rtpmap:109 opus/48000/2",
        "a=setup:active",
        "a=ssrc:1501877111 cname:{052f1ef6-da0c-449e-919e-68e85665dbe1}",
        "",
    ]
)

TRANSPORT = ("candidate", "end-of-candidates", "ice-pwd", "ice-ufrag", "setup")


def transport_of(block: list[str]) -> list[str]:
    return [line for line in block if line[2:].split(":", 1)[0] in TRANSPORT]


def test_every_section_of_the_group_describes_the_tagged_sections_transport() -> None:
    _, blocks = split(with_bundle_transport(FIREFOX_ANSWER))
    tagged = transport_of(split(FIREFOX_ANSWER)[1][0])
    assert [transport_of(block) for block in blocks] == [tagged] * 3
    assert [attribute(block, "setup") for block in blocks] == ["passive"] * 3


def test_nothing_else_moves() -> None:
    before = split(FIREFOX_ANSWER)
    after = split(with_bundle_transport(FIREFOX_ANSWER))
    assert after[0] == before[0]  # the session level, the session fingerprint included
    for old, new in zip(before[1], after[1], strict=True):
        assert [x for x in old if x not in transport_of(old)] == [
            x for x in new if x not in transport_of(new)
        ]


def test_it_is_idempotent_and_leaves_sdp_without_bundle_alone() -> None:
    once = with_bundle_transport(FIREFOX_ANSWER)
    assert with_bundle_transport(once) == once
    unbundled = FIREFOX_ANSWER.replace("a=group:BUNDLE 0 1 2\r\n", "")
    assert split(with_bundle_transport(unbundled)) == split(unbundled)


def test_tagged_attribute_reads_the_tagged_section_then_the_session() -> None:
    assert tagged_attribute(FIREFOX_ANSWER, "setup") == "passive"
    assert tagged_attribute(
        FIREFOX_ANSWER,
        "fingerprint",
    ).startswith("sha-256 AD:3D")
    reordered = FIREFOX_ANSWER.replace("BUNDLE 0 1 2", "BUNDLE 2 0 1")
    assert tagged_attribute(reordered, "setup") == "active"


def test_every_transport_attribute_of_the_other_sections_gives_way() -> None:
    """Not only `a=setup`: whatever transport attribute a non-tagged section states differently
    (ICE credentials, a fingerprint, ICE options, lite, candidates, DTLS ids) is replaced by the
    tagged section's, and one the tagged section lacks is dropped."""
    junk = [
        "a=ice-ufrag:other",
        "a=ice-pwd:000000000000000000000000000000ff",
        "a=ice-options:renomination",
        "a=ice-lite",
        "a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
        "a=candidate:9 1 UDP 1 198.51.100.9 9 typ host",
        "a=end-of-candidates",
        "a=tls-id:abc",
        "a=setup:active",
    ]
    answer = FIREFOX_ANSWER.replace(
        "a=mid:2\r\n", "a=mid:2\r\n" + "".join(line + "\r\n" for line in junk)
    )
    _, blocks = split(with_bundle_transport(answer))
    tagged = [line for line in split(answer)[1][0] if line[2:].split(":", 1)[0] in TRANSPORTS]
    for block in blocks:
        assert [line for line in block if line[2:].split(":", 1)[0] in TRANSPORTS] == tagged
    stated_only_there = [line for line in junk if line not in tagged]
    assert not any(line in block for line in stated_only_there for block in blocks)


# RFC 8859's TRANSPORT category, written out here so that a name missing from the module shows.
TRANSPORTS = [
    "ice-ufrag",
    "ice-pwd",
    "ice-options",
    "ice-lite",
    "ice-pacing",
    "ice-mismatch",
    "candidate",
    "remote-candidates",
    "end-of-candidates",
    "fingerprint",
    "setup",
    "tls-id",
    "dtls-id",
]
