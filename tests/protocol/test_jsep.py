"""Later offers keep what the first negotiation agreed (RFC 9429 section 5.2.2)."""

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from client.browsers import CHROMIUM
from protocol import ProtocolError
from protocol.jsep import Negotiated, extmap_ids, sections, violations
from protocol.sdptext import join, split
from sfu.media.ice import restrict_host_addresses, rtc_configuration
from sfu.rooms.participant import opus_only

# What Chromium offers for one microphone and a data channel (trimmed: no candidates).
CHROME_OFFER = "\r\n".join(
    [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "a=msid-semantic: WMS",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
        "c=IN IP4 0.0.0.0",
        "a=mid:0",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=sendrecv",
        "a=rtcp-mux",
        "a=rtpmap:111 opus/48000/2",
        "a=rtcp-fb:111 transport-cc",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtpmap:63 red/48000/2",
        "a=fmtp:63 111/111",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "a=mid:1",
        "a=sctp-port:5000",
        "",
    ]
)

# What aiortc's createOffer makes for the same session later: its own defaults again.
AIORTC_REOFFER = "\r\n".join(
    [
        "v=0",
        "o=- 1 1 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1 2",
        "m=audio 9 UDP/TLS/RTP/SAVPF 96 9 0 8",
        "a=mid:0",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "a=rtpmap:96 opus/48000/2",
        "a=rtpmap:9 G722/8000",
        "a=msid:s-old t-1",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "a=mid:1",
        "m=audio 9 UDP/TLS/RTP/SAVPF 96",
        "a=mid:2",
        "a=extmap:3/sendonly urn:example:new",
        "a=rtpmap:96 opus/48000/2",
        "a=msid:p-7 t-2",
        "",
    ]
)

OUR_ANSWER = "\r\n".join(
    [
        "v=0",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "a=mid:0",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "a=mid:1",
        "",
    ]
)


def test_later_offer_keeps_payload_types_formats_and_extension_ids() -> None:
    negotiated = Negotiated.from_exchange(CHROME_OFFER, OUR_ANSWER)
    kept = negotiated.apply(AIORTC_REOFFER)
    audio = [s for s in sections(kept) if s.kind == "audio"]
    # The existing section and the new one both say Opus is 111, with the agreed fmtp.
    for section in audio:
        assert section.formats.payload_types == ("111",)
        assert section.formats.describe() == {"111": "opus/48000/2;minptime=10;useinbandfec=1;"}
    assert [s.stream for s in audio] == ["s-old", "p-7"]
    assert extmap_ids(kept) == {
        "urn:ietf:params:rtp-hdrext:sdes:mid": 4,
        "urn:ietf:params:rtp-hdrext:ssrc-audio-level": 1,
        "urn:example:new": 2,  # never negotiated: the first ID the peer left free
    }
    assert "a=extmap:2/sendonly urn:example:new" in kept
    assert violations(sections(OUR_ANSWER), kept) == []


def test_violations_name_each_moved_payload_type() -> None:
    problems = violations(sections(OUR_ANSWER), AIORTC_REOFFER)
    assert problems == [
        "mid 0: payload type 111 was 'opus/48000/2;minptime=10;useinbandfec=1;', now None"
    ]


def test_sections_without_formats_are_left_alone() -> None:
    negotiated = Negotiated.from_exchange(CHROME_OFFER, OUR_ANSWER)
    kept = negotiated.apply(AIORTC_REOFFER)
    assert "m=application 9 UDP/DTLS/SCTP webrtc-datachannel" in kept.splitlines()


@pytest.mark.asyncio
async def test_aiortc_reoffer_keeps_a_browser_payload_type_end_to_end() -> None:
    """Real aiortc peers: a client offering Opus as 111 (as Chromium does), then two server
    offers that add forwarded tracks; every one keeps 111 and the client's answers agree."""
    restrict_host_addresses(["127.0.0.1"])  # loopback only, and no STUN server asked
    client = RTCPeerConnection(rtc_configuration())
    server = RTCPeerConnection(rtc_configuration())
    try:
        client.addTransceiver("audio", direction="sendrecv")
        client.createDataChannel("captions")
        offer = await client.createOffer()
        offer.sdp = CHROMIUM.offer(offer.sdp)
        await client.setLocalDescription(offer)
        await server.setRemoteDescription(client.localDescription)
        opus_only(server)
        await server.setLocalDescription(await server.createAnswer())
        negotiated = Negotiated.from_exchange(
            client.localDescription.sdp, server.localDescription.sdp
        )
        await client.setRemoteDescription(server.localDescription)
        for _ in range(2):
            server.addTransceiver("audio", direction="sendonly")
            opus_only(server)
            reoffer = await server.createOffer()
            assert violations(sections(client.remoteDescription.sdp), reoffer.sdp)  # the bug
            reoffer.sdp = negotiated.apply(reoffer.sdp)
            assert violations(sections(client.remoteDescription.sdp), reoffer.sdp) == []
            await server.setLocalDescription(reoffer)
            negotiated.record(reoffer.sdp)
            await client.setRemoteDescription(
                RTCSessionDescription(server.localDescription.sdp, "offer")
            )
            await client.setLocalDescription(await client.createAnswer())
            await server.setRemoteDescription(client.localDescription)
            answered = [s for s in sections(client.localDescription.sdp) if s.kind == "audio"]
            assert {s.formats.payload_types[0] for s in answered} == {"111"}
    finally:
        await client.close()
        await server.close()


# --- the DTLS roles of an established association (RFC 8842 section 5.5) --------------------


def with_setup(sdp: str, setup: str) -> str:
    """`sdp` with `a=setup:setup` at the end of every media section."""
    head, blocks = split(sdp)
    return join(head, [[*block, f"a=setup:{setup}"] for block in blocks])


def test_later_offers_state_the_role_we_took_instead_of_actpass() -> None:
    negotiated = Negotiated.from_exchange(CHROME_OFFER, with_setup(OUR_ANSWER, "active"))
    assert negotiated.setup == "active"
    kept = negotiated.apply(with_setup(AIORTC_REOFFER, "actpass"))
    setups = [line for line in kept.split("\r\n") if line.startswith("a=setup:")]
    assert setups == ["a=setup:active"] * 3  # the new section too: it shares the transport


def test_an_answer_that_would_swap_the_roles_is_refused() -> None:
    negotiated = Negotiated.from_exchange(CHROME_OFFER, with_setup(OUR_ANSWER, "active"))
    negotiated.check_answer(with_setup(CHROME_OFFER, "passive"))
    for wrong in ("active", "actpass"):
        with pytest.raises(ProtocolError, match=f"a=setup:{wrong}.*answer a=setup:passive"):
            negotiated.check_answer(with_setup(CHROME_OFFER, wrong))


def test_only_the_tagged_section_of_an_answer_says_the_role() -> None:
    """Firefox's answer to a re-offer adding mid 2: passive, passive, then active for mid 2."""
    negotiated = Negotiated.from_exchange(CHROME_OFFER, with_setup(OUR_ANSWER, "active"))
    firefox = with_setup(AIORTC_REOFFER, "passive")
    firefox = firefox[: firefox.rindex("a=setup:passive")] + "a=setup:active\r\n"
    negotiated.check_answer(firefox)
    with pytest.raises(ProtocolError):
        negotiated.check_answer(firefox.replace("a=setup:passive", "a=setup:active", 1))
