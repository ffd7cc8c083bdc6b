"""What a subsequent offer must keep of the first negotiation (JSEP, RFC 9429 section 5.2.2).

A session's payload types, their formats and its RTP header-extension IDs are fixed once
negotiated: "the same payload type numbers and formats are used ... for the session's life".
aiortc's `createOffer` starts from its own defaults every time (Opus as payload type 96, its own
extension IDs), while Chromium offers Opus as 111. A browser answers a server offer with whatever
that offer carries, so an offer that moves Opus from 111 to 96 makes the browser's next answer
move it too, and aiortc's receiver then drops every packet the browser still sends as 111: the
browser's audio stops being forwarded and captioned. `Negotiated` records what was agreed and
rewrites our later offers to keep it; `violations` is the check a client applies to them.

The DTLS roles are fixed too, for as long as the association lasts (RFC 8842 sections 5.3-5.5): a
later offer states the role its sender already has, `a=setup:active` for the DTLS client and
`passive` for the server, where aiortc's offers say `actpass` every time, so that the answer cannot
pick the other role for a transport that is running. Firefox did: it answered `active` for the
sections our re-offers added, and the shared transport changed sides (see `protocol.bundle`).
`Negotiated.check_answer` refuses an answer that would swap the roles.

Sans-I/O: SDP text in, SDP text out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .bundle import tagged_attribute
from .errors import ErrorCode, ProtocolError
from .sdptext import Block, attribute, join, lines, split

# RFC 8866 section 5.14: m=<media> <port> <proto> <fmt> ...
MEDIA_LINE = re.compile(r"m=(\w+) (\S+) (\S+)((?: \S+)*)")
# The attributes that define a payload type (RFC 8866 section 6.6, 6.15; RFC 4585 section 4.2).
FORMAT_ATTRIBUTE = re.compile(r"a=(rtpmap|fmtp|rtcp-fb):(\S+)[ \t](.*)")
EXTMAP = re.compile(r"a=extmap:(\d+)(/\w+)? (\S+)(.*)")
MAX_ONE_BYTE_ID = 14  # RFC 8285 section 4.2
RTP_KINDS = ("audio", "video")  # the sections that have payload types (not `application`)
DTLS_ROLES = {"active": "passive", "passive": "active"}  # an established role → the peer's


@dataclass(frozen=True)
class MediaFormats:
    """One media section's formats: payload types in preference order, and the attribute lines
    (rtpmap, fmtp, rtcp-fb) that define them."""

    payload_types: tuple[str, ...]
    lines: tuple[str, ...]

    def describe(self) -> dict[str, str]:
        """Payload type → its rtpmap and fmtp, the part a payload type's meaning hangs on."""
        meaning: dict[str, str] = {pt: "" for pt in self.payload_types}
        for line in self.lines:
            match = FORMAT_ATTRIBUTE.fullmatch(line)
            if match and match.group(1) != "rtcp-fb" and match.group(2) in meaning:
                meaning[match.group(2)] += match.group(3).strip() + ";"
        return meaning


@dataclass(frozen=True)
class Section:
    """One media section of an SDP: its kind, mid, formats, and the stream and track ids of its
    `a=msid` (RFC 8830)."""

    kind: str
    mid: str | None
    formats: MediaFormats
    stream: str | None = None
    track: str | None = None

    @property
    def source(self) -> str | None:
        """What a server-forwarded video section carries, from its msid track id:
        `camera` or `screen` (docs/protocol-notes.md, "Video")."""
        if self.kind != "video" or self.track is None:
            return None
        name = self.track.split("-", 1)[0]
        return name if name in ("camera", "screen") else None


def sections(sdp: str) -> list[Section]:
    """The media sections of `sdp`, in order."""
    return [_section(block) for block in split(sdp)[1]]


def extmap_ids(sdp: str) -> dict[str, int]:
    """The header-extension IDs an SDP uses, by URI (RFC 8285)."""
    ids: dict[str, int] = {}
    for line in lines(sdp):
        match = EXTMAP.fullmatch(line)
        if match:
            ids.setdefault(match.group(3), int(match.group(1)))
    return ids


@dataclass
class Negotiated:
    """What the first offer/answer agreed, kept for every later offer of the session.

    `formats` by mid for the sections already negotiated; a new section of a kind takes the
    formats of the first section of that kind, so that one payload type means one codec across
    the BUNDLE group (RFC 9143 section 7.5). `extmap` by URI: the IDs the peer chose. `setup`:
    our side's `a=setup` in the first answer (`active`: we are the DTLS client)."""

    formats: dict[str, MediaFormats] = field(default_factory=dict)
    by_kind: dict[str, MediaFormats] = field(default_factory=dict)
    extmap: dict[str, int] = field(default_factory=dict)
    setup: str | None = None

    @classmethod
    def from_exchange(cls, remote_offer: str, local_answer: str) -> Negotiated:
        """After the peer's first offer and our answer: our answer holds the payload types and
        formats agreed (aiortc answers with the offerer's payload types); the peer's offer holds
        every extension ID it reserved, accepted by us or not."""
        negotiated = cls(extmap=extmap_ids(remote_offer))
        negotiated.record(local_answer)
        setup = tagged_attribute(local_answer, "setup")
        negotiated.setup = setup if setup in DTLS_ROLES else None
        return negotiated

    def record(self, sdp: str) -> None:
        """Remember the formats of sections not seen before (those a later offer adds)."""
        for section in sections(sdp):
            if section.kind not in RTP_KINDS:
                continue
            self.by_kind.setdefault(section.kind, section.formats)
            if section.mid is not None:
                self.formats.setdefault(section.mid, section.formats)

    def apply(self, offer: str) -> str:
        """`offer` with every section's formats, every extension ID and the DTLS role as
        negotiated."""
        head, blocks = split(offer)
        out: list[Block] = []
        for block in blocks:
            section = _section(block)
            formats = None
            if section.kind in RTP_KINDS:
                formats = self.formats.get(section.mid or "") or self.by_kind.get(section.kind)
            out.append(self._with_setup(_with_formats(block, formats) if formats else block))
        return join(
            _remap_extmap(head + [line for block in out for line in block], self.extmap), []
        )

    def _with_setup(self, block: Block) -> Block:
        if self.setup is None:
            return block
        return [f"a=setup:{self.setup}" if line == "a=setup:actpass" else line for line in block]

    def check_answer(self, answer: str) -> None:
        """Refuse an answer that takes our DTLS role: to our `active` it must say `passive`, and
        the other way round (RFC 8842 section 5.5). Only the tagged section's value counts."""
        if self.setup is None:
            return
        theirs = tagged_attribute(answer, "setup")
        expected = DTLS_ROLES[self.setup]
        if theirs is not None and theirs != expected:
            raise ProtocolError(
                ErrorCode.BAD_REQUEST,
                f"the answer says a=setup:{theirs[:16]}, but the DTLS association is established"
                f" with this side as '{self.setup}': answer a=setup:{expected} (RFC 8842 section"
                " 5.5)",
                "answer",
            )


def violations(negotiated: list[Section], offer: str) -> list[str]:
    """How `offer` breaks the formats already negotiated for its sections (empty: it keeps them).

    What a browser relies on: for each existing mid, every payload type it agreed keeps its
    meaning and stays offered."""
    agreed: dict[str, dict[str, str]] = {}
    for s in negotiated:
        if s.kind in RTP_KINDS and s.mid is not None:  # a section is known by its (first) mid
            agreed.setdefault(s.mid, s.formats.describe())
    problems = []
    for section in sections(offer):
        if section.kind not in RTP_KINDS or section.mid is None:
            continue
        before = agreed.get(section.mid)
        if before is None:
            continue
        now = section.formats.describe()
        for payload_type, meaning in before.items():
            if now.get(payload_type) != meaning:
                problems.append(
                    f"mid {section.mid}: payload type {payload_type} was {meaning!r}, "
                    f"now {now.get(payload_type)!r}"
                )
    return problems


def _section(block: Block) -> Section:
    match = MEDIA_LINE.fullmatch(block[0])
    kind, payload_types = (match.group(1), tuple(match.group(4).split())) if match else ("", ())
    mid = attribute(block, "mid")
    msid = attribute(block, "msid")
    format_lines = tuple(line for line in block if FORMAT_ATTRIBUTE.fullmatch(line))
    ids = msid.split() if msid else []
    stream = ids[0] if ids else None
    track = ids[1] if len(ids) > 1 else None
    return Section(kind, mid, MediaFormats(payload_types, format_lines), stream, track)


def _with_formats(block: Block, formats: MediaFormats) -> Block:
    """`block` with its payload types and their attribute lines replaced by `formats`, put where
    the first of the old ones stood."""
    match = MEDIA_LINE.fullmatch(block[0])
    if match is None:
        return block
    m_line = f"m={match.group(1)} {match.group(2)} {match.group(3)} " + " ".join(
        formats.payload_types
    )
    out = [m_line]
    inserted = False
    for line in block[1:]:
        if FORMAT_ATTRIBUTE.fullmatch(line):
            if not inserted:
                out.extend(formats.lines)
                inserted = True
            continue
        out.append(line)
    if not inserted:
        out.extend(formats.lines)
    return out


def _remap_extmap(sdp_lines: list[str], negotiated: dict[str, int]) -> list[str]:
    """Every header extension with the ID already negotiated for its URI; URIs never negotiated
    get IDs that are free in `negotiated`."""
    ids = dict(negotiated)
    free = (i for i in range(1, MAX_ONE_BYTE_ID + 1) if i not in negotiated.values())
    out = []
    for line in sdp_lines:
        match = EXTMAP.fullmatch(line)
        if match:
            uri = match.group(3)
            if uri not in ids:
                ids[uri] = next(free)
            line = f"a=extmap:{ids[uri]}{match.group(2) or ''} {uri}{match.group(4)}"
        out.append(line)
    return out
