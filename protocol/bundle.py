"""One transport for a BUNDLE group: only its tagged section's transport attributes count.

The media sections of a BUNDLE group share one ICE and DTLS transport (RFC 8843), described by the
group's tagged section alone: its first mid, the offerer's tag in an offer (section 7.2) and the
answerer's in an answer (section 7.3.1). The attributes that describe that transport are RFC 8859's
TRANSPORT category. What peers write for them in the other sections differs: Chromium repeats the
tagged section's values; Firefox repeats `a=ice-ufrag`, `a=ice-pwd` and `a=setup` but keeps its
candidates in the tagged section, and answers a section that a re-offer adds with `a=setup:active`
while it says `passive` for the others. aiortc (1.16) applies every section's transport attributes
to the one shared transport in turn, so the last section's win: a Firefox answer turned our running
DTLS client into a server (both ends then waited as servers, or derived the SRTP keys for the wrong
side), and took its candidates from a section that had none.

`with_bundle_transport` rewrites a peer's SDP so that every section of a group carries exactly the
tagged section's transport attributes: aiortc then reads one description of the one transport,
in whatever order it reads the sections. Sans-I/O: SDP text in, SDP text out.
"""

from __future__ import annotations

from .sdptext import Block, attribute, attribute_name, bundle_groups, join, split

# RFC 8859's TRANSPORT category: the attributes of ICE (RFC 8839) and DTLS (RFC 8842), by name.
TRANSPORT_ATTRIBUTES = frozenset(
    {
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
    }
)


def with_bundle_transport(sdp: str) -> str:
    """`sdp` with each BUNDLE group's tagged-section transport attributes in all its sections."""
    head, blocks = split(sdp)
    index = {attribute(block, "mid"): i for i, block in enumerate(blocks)}
    grouped: set[int] = set()  # a section is in one group at most (RFC 8843 section 7.5)
    for group in bundle_groups(head):
        members = [index[mid] for mid in group if mid in index]
        if not group or group[0] not in index or grouped.intersection(members):
            continue  # refused at the edge (protocol.sdp)
        grouped.update(members)
        tagged = index[group[0]]
        transport = [line for line in blocks[tagged] if _is_transport(line)]
        for member in members:
            if member != tagged:
                blocks[member] = _with_transport(blocks[member], transport)
    return join(head, blocks)


def tagged_attribute(sdp: str, name: str) -> str | None:
    """A transport attribute as it applies to the first BUNDLE group (or to the first section
    when there is no group): the tagged section's value, else the session-level one."""
    head, blocks = split(sdp)
    groups = [group for group in bundle_groups(head) if group]
    index = {attribute(block, "mid"): i for i, block in enumerate(blocks)}
    tagged = index.get(groups[0][0]) if groups else (0 if blocks else None)
    value = attribute(blocks[tagged], name) if tagged is not None else None
    return value if value is not None else attribute(head, name)


def _is_transport(line: str) -> bool:
    return attribute_name(line) in TRANSPORT_ATTRIBUTES


def _with_transport(block: Block, transport: list[str]) -> Block:
    """`block` with its own transport attributes replaced by `transport`, put where the first of
    its own stood (or at its end)."""
    out: Block = []
    inserted = False
    for line in block:
        if _is_transport(line):
            if not inserted:
                out.extend(transport)
                inserted = True
            continue
        out.append(line)
    if not inserted:
        out.extend(transport)
    return out
