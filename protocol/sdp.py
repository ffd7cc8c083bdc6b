"""Checks on SDP received from clients, before it reaches aiortc (RFC 8866, RFC 8839)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection

from .bundle import with_bundle_transport
from .errors import ErrorCode, ProtocolError
from .sdptext import attribute, join, lines, split

# RFC 8866 section 5.14: m=<media> <port>[/<number>] <proto> <fmt> ...
MEDIA_LINE = re.compile(r"m=[a-z]+ \d{1,5}(/\d+)? [A-Za-z0-9/_.-]+( \S+)+")
# What a media section's transport cannot do without (RFC 8839 section 5.4, RFC 8122 section 5).
TRANSPORT_NEEDS = {
    "ice-ufrag": "ICE credentials",
    "ice-pwd": "ICE credentials",
    "fingerprint": "the DTLS certificate's fingerprint",
}
MAX_VIDEO_SECTIONS = 2  # a camera, then a screen (docs/protocol-notes.md, "Video")
VIDEO_SOURCES = ("camera", "screen")  # what the offer's video sections carry, in their order
OFFER_SETUP = frozenset({"actpass", "active", "passive"})
ANSWER_SETUP = frozenset({"active", "passive"})


def validate_offer(sdp: str, ref: str = "offer") -> None:
    """An offer must be SDP with one audio section, at most two video sections (each offering
    VP8) and one data-channel section."""
    _check_sdp(sdp, ref)
    kinds = [line.split()[0][2:] for line in lines(sdp) if line.startswith("m=") and line[2:]]
    if kinds.count("audio") != 1:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, "the offer must have exactly one audio section", ref
        )
    if "application" not in kinds:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST,
            "the offer must have a data-channel section (the 'captions' channel)",
            ref,
        )
    if "opus/48000" not in sdp.lower():
        raise ProtocolError(ErrorCode.BAD_REQUEST, "the offer must include the Opus codec", ref)
    _check_video(sdp, kinds.count("video"), ref)
    _check_bundle(sdp, ref)
    _check_transport(sdp, ref, OFFER_SETUP)


def _check_video(sdp: str, count: int, ref: str) -> None:
    """At most a camera and a screen; the SFU forwards video untouched, so every video section
    must offer the codec every subscriber can decode: VP8 (RFC 7742 section 5)."""
    if count > MAX_VIDEO_SECTIONS:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST,
            f"the offer has {count} video sections; at most {MAX_VIDEO_SECTIONS}"
            " (a camera, then a screen)",
            ref,
        )
    _, blocks = split(sdp)
    for block in blocks:
        if block[0].startswith("m=video ") and not any(
            line.startswith("a=rtpmap:") and "vp8/90000" in line.lower() for line in block
        ):
            mid = attribute(block, "mid")
            raise ProtocolError(
                ErrorCode.BAD_REQUEST,
                f"video section {(mid or '?')[:16]!r} does not offer VP8 (VP8/90000)",
                ref,
            )


def video_sources(sdp: str) -> dict[str, str]:
    """The offer's video sections by mid: the first is the camera, the second the screen."""
    _, blocks = split(sdp)
    mids = [attribute(b, "mid") for b in blocks if b[0].startswith("m=video ")]
    return {mid: source for mid, source in zip(mids, VIDEO_SOURCES, strict=False) if mid}


def _check_bundle(sdp: str, ref: str) -> None:
    """Each media section has at most one `a=mid`, mids are unique, and every mid a BUNDLE group
    names is one of them (RFC 8843 section 7.2). aiortc accepts an offer that breaks this and is
    left half-configured: its answer and its close then fail."""
    sections: list[list[str]] = []
    groups: list[str] = []
    for line in lines(sdp):
        if line.startswith("m="):
            sections.append([])
        elif line.startswith("a=mid:") and sections:
            sections[-1].append(line[6:].strip())
        elif line.startswith("a=group:BUNDLE"):
            groups += line.split()[1:]
    mids = [mid for section in sections for mid in section]
    if any(len(section) > 1 for section in sections) or len(set(mids)) != len(mids):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "media sections need distinct mids", ref)
    unknown = sorted(set(groups) - set(mids))
    if unknown:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"BUNDLE names mids with no media section: {unknown[:4]!r}", ref
        )
    if len(set(groups)) != len(groups):  # section 7.5: one group per section, named once
        raise ProtocolError(ErrorCode.BAD_REQUEST, "a mid is named twice in the BUNDLE groups", ref)


def validate_answer(sdp: str, ref: str = "answer") -> None:
    _check_sdp(sdp, ref)
    _check_bundle(sdp, ref)
    _check_transport(sdp, ref, ANSWER_SETUP)


def _check_transport(sdp: str, ref: str, setups: frozenset[str]) -> None:
    """Every media section has what its transport needs, as it applies to it: its own attributes,
    or its BUNDLE group's tagged section's (`protocol.bundle`), or the session's. aiortc accepts
    an SDP without `a=fingerprint`, and its connect task then dies on an assertion, leaving the
    participant connected to nothing."""
    head, blocks = split(with_bundle_transport(sdp))
    for block in blocks:
        mid = attribute(block, "mid")
        where = f"media section {mid[:16]!r}" if mid is not None else "a media section"
        for name, what in TRANSPORT_NEEDS.items():
            if attribute(block, name) is None and attribute(head, name) is None:
                raise ProtocolError(ErrorCode.BAD_REQUEST, f"{where} has no a={name} ({what})", ref)
        setup = attribute(block, "setup") or attribute(head, "setup")
        if setup is not None and setup not in setups:
            raise ProtocolError(
                ErrorCode.BAD_REQUEST,
                f"{where}: a=setup:{setup[:16]} is not one of {', '.join(sorted(setups))}"
                f" in an {ref} (RFC 8842 section 5)",
                ref,
            )


def _check_sdp(sdp: str, ref: str) -> None:
    sdp_lines = lines(sdp)
    if not sdp_lines or sdp_lines[0] != "v=0":
        raise ProtocolError(ErrorCode.BAD_REQUEST, "invalid SDP: it must start with 'v=0'", ref)
    for line in sdp_lines:
        if len(line) < 2 or line[1] != "=" or not line[0].isalpha():
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"invalid SDP line {line[:40]!r}", ref)
    media = [line for line in sdp_lines if line.startswith("m=")]
    if not media:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "invalid SDP: no media section", ref)
    for line in media:
        if not MEDIA_LINE.fullmatch(line):
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"invalid SDP media line {line[:60]!r}", ref)


def keep_candidates(sdp: str, allowed_hosts: Collection[str]) -> str:
    """Drop every `a=candidate` line whose address is not one of `allowed_hosts`.

    Used in local mode so that no connectivity check ever leaves loopback, whatever addresses a
    browser offers (its LAN and IPv6 host candidates, mDNS names)."""
    allowed = {ipaddress.ip_address(host) for host in allowed_hosts}
    kept: list[str] = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            parts = line.split()
            try:
                address = ipaddress.ip_address(parts[4])
            except (IndexError, ValueError):
                continue  # mDNS names and malformed candidates cannot be loopback addresses
            if address not in allowed:
                continue
        kept.append(line)
    return "\r\n".join(kept) + "\r\n"


def with_opus_dtx(sdp: str) -> str:
    """`sdp` (ours) asking the peer to send Opus with DTX: `usedtx=1` on each Opus payload type's
    `a=fmtp` of its audio sections (RFC 7587 section 6.1: the receiver's preference, which
    Chromium and Firefox follow), a line added where there is none.

    A participant who says nothing then sends a packet every 400 ms instead of 50 a second (a
    room of 150 mostly listens); the caption tap and the forwarding already take a track whose
    timestamps jump over a silence (`sfu.media.tap`, `sfu.media.speaking`)."""
    head, blocks = split(sdp)
    for block in blocks:
        if not block[0].startswith("m=audio "):
            continue
        opus = {
            line[len("a=rtpmap:") :].split()[0]
            for line in block
            if line.startswith("a=rtpmap:") and " opus/48000" in line.lower()
        }
        for payload_type in opus:
            fmtp = f"a=fmtp:{payload_type} "
            at = next((i for i, line in enumerate(block) if line.startswith(fmtp)), None)
            if at is None:
                rtpmap = f"a=rtpmap:{payload_type} "
                after = next(i for i, line in enumerate(block) if line.startswith(rtpmap))
                block.insert(after + 1, f"{fmtp}usedtx=1")
                continue
            parameters = [p.strip() for p in block[at][len(fmtp) :].split(";") if p.strip()]
            kept = [p for p in parameters if p.split("=", 1)[0].strip().lower() != "usedtx"]
            block[at] = fmtp + ";".join([*kept, "usedtx=1"])
    return join(head, blocks)
