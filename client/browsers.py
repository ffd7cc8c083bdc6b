"""SDP as each browser writes it, so that the reference client can negotiate like one.

A server must cope with what real browsers send, and they differ from aiortc's own SDP and from each
other: payload types, header-extension IDs, msids, where they write a BUNDLE group's transport, and
the DTLS role they choose for a section that a re-offer adds. Clients negotiating as aiortc agreed
with our aiortc server by chance and hid two bugs that broke browsers: server offers that
renumbered Chromium's Opus (issue 9), and a Firefox answer that turned the server's running DTLS
client into a server (issue 18). A `BrowserShape` rewrites the SDP the client's aiortc made into
what that browser sends; the values are those Chromium 156 and Firefox ESR 153 sent to our server.

The client's aiortc keeps its own state (it stays, say, the DTLS server); only the SDP the server
reads is shaped, as the server only ever sees a browser through its SDP. Sans-I/O.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from protocol.sdptext import Block, attribute, attribute_name, bundle_groups, join, split

AIORTC_OPUS = "96"
EXTMAP = re.compile(r"a=extmap:(\d+)(/\w+)? (\S+)(.*)")
AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
MID = "urn:ietf:params:rtp-hdrext:sdes:mid"


@dataclass(frozen=True)
class BrowserShape:
    """How one browser writes its offers and its answers to a server's offers.

    `opus_payload_type`: its Opus payload type (aiortc: 96). `extmap`: the IDs it gives header
    extensions, by URI. `anonymous_stream`: its msid names no stream (`a=msid:- {track}`).
    `session_fingerprint`: it writes `a=fingerprint` once, at session level.
    `candidates_in_tagged_section`: its candidates are only in a BUNDLE group's tagged section.
    `added_section_setup`: the `a=setup` it answers for a section that a re-offer adds when that
    offer leaves the choice (`actpass`); None: the role it already has, as aiortc does.
    `hidden_host_addresses`: its host candidates name mDNS hostnames instead of addresses, as a
    Firefox page without microphone permission writes them (its checks still come from the
    addresses: the server can only learn them as peer-reflexive candidates)."""

    name: str
    opus_payload_type: str = AIORTC_OPUS
    extmap: Mapping[str, int] = field(default_factory=dict)
    anonymous_stream: bool = False
    session_fingerprint: bool = False
    candidates_in_tagged_section: bool = False
    added_section_setup: str | None = None
    hidden_host_addresses: bool = False

    def offer(self, sdp: str) -> str:
        """`sdp`, an offer aiortc made, as this browser would have written it."""
        return self._shape(sdp)

    def answer(self, sdp: str, offer: str, known_mids: set[str]) -> str:
        """`sdp`, aiortc's answer to the server's `offer`, as this browser would have written
        it; `known_mids`: the sections negotiated before this offer."""
        head, blocks = split(self._shape(sdp))
        offered = {attribute(b, "mid"): attribute(b, "setup") for b in split(offer)[1]}
        if self.added_section_setup is not None:
            for i, block in enumerate(blocks):
                mid = attribute(block, "mid")
                if mid not in known_mids and offered.get(mid) == "actpass":
                    blocks[i] = _set(block, "setup", self.added_section_setup)
        return join(head, blocks)

    def _shape(self, sdp: str) -> str:
        head, blocks = split(sdp)
        blocks = [self._media(block) for block in blocks]
        if self.session_fingerprint:
            prints = [line for block in blocks[:1] for line in block if _named(line, "fingerprint")]
            blocks = [
                [line for line in block if not _named(line, "fingerprint")] for block in blocks
            ]
            head = [line for line in head if not _named(line, "fingerprint")]
            head = head[:4] + prints + head[4:]  # after v=, o=, s=, t=, as Firefox writes it
        if self.candidates_in_tagged_section:
            blocks = _candidates_in_tagged_section(head, blocks)
        if self.hidden_host_addresses:
            blocks = [[_hidden(line) for line in block] for block in blocks]
        return join(head, blocks)

    def _media(self, block: Block) -> Block:
        out = []
        for line in block:
            if line.startswith("m=audio "):
                parts = line.split(" ")
                line = " ".join(
                    parts[:3]
                    + [self.opus_payload_type if f == AIORTC_OPUS else f for f in parts[3:]]
                )
            for name in ("rtpmap", "fmtp", "rtcp-fb"):
                prefix = f"a={name}:{AIORTC_OPUS} "
                if line.startswith(prefix):
                    line = f"a={name}:{self.opus_payload_type} {line[len(prefix) :]}"
            match = EXTMAP.fullmatch(line)
            if match and match.group(3) in self.extmap:
                line = f"a=extmap:{self.extmap[match.group(3)]}{match.group(2) or ''} " + (
                    match.group(3) + match.group(4)
                )
            if self.anonymous_stream and _named(line, "msid"):
                line = f"a=msid:- {{{line.split()[-1]}}}"
            out.append(line)
        return out


def _hidden(line: str) -> str:
    """A host candidate line with its address replaced by an mDNS name (RFC 8445 section 5.1.1.1:
    `a=candidate:foundation component transport priority address port typ host ...`)."""
    parts = line.split(" ")
    if not _named(line, "candidate") or len(parts) < 8 or parts[7] != "host":
        return line
    parts[4] = f"{uuid.uuid5(uuid.NAMESPACE_DNS, parts[4])}.local"
    return " ".join(parts)


def _named(line: str, name: str) -> bool:
    return attribute_name(line) == name


def _set(block: Block, name: str, value: str) -> Block:
    return [f"a={name}:{value}" if _named(line, name) else line for line in block]


def _candidates_in_tagged_section(head: list[str], blocks: list[Block]) -> list[Block]:
    groups = bundle_groups(head)
    tagged = groups[0][0] if groups and groups[0] else None
    bundled = set(groups[0]) if groups else set()
    return [
        block
        if attribute(block, "mid") == tagged or attribute(block, "mid") not in bundled
        else [
            line
            for line in block
            if not (_named(line, "candidate") or _named(line, "end-of-candidates"))
        ]
        for block in blocks
    ]


AIORTC = BrowserShape("aiortc")
CHROMIUM = BrowserShape("chromium", opus_payload_type="111", extmap={AUDIO_LEVEL: 1, MID: 4})
FIREFOX = BrowserShape(
    "firefox",
    opus_payload_type="109",
    extmap={AUDIO_LEVEL: 1, MID: 3},
    anonymous_stream=True,
    session_fingerprint=True,
    candidates_in_tagged_section=True,
    added_section_setup="active",
)
# Firefox's page before the person allows the microphone, or after they refuse it.
FIREFOX_WITHOUT_MICROPHONE = replace(FIREFOX, name="firefox-no-mic", hidden_host_addresses=True)
SHAPES = {shape.name: shape for shape in (AIORTC, CHROMIUM, FIREFOX, FIREFOX_WITHOUT_MICROPHONE)}
