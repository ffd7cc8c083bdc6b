"""SDP as text (RFC 8866 section 5): lines, and the session part and media sections they form.

The SDP modules of this package read and rewrite SDP at the line level, leaving every line they do
not own exactly as the peer wrote it; these are the pieces they share. Sans-I/O.
"""

from __future__ import annotations

Block = list[str]  # one media section's lines, its m= line first


def lines(sdp: str) -> list[str]:
    """The non-empty lines of `sdp`, without their line ends (CRLF or LF)."""
    return [line.rstrip("\r") for line in sdp.split("\n") if line.strip()]


def split(sdp: str) -> tuple[list[str], list[Block]]:
    """The session-level lines, and each media section's lines (its m= line first)."""
    head: list[str] = []
    blocks: list[Block] = []
    for line in lines(sdp):
        if line.startswith("m="):
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line)
        else:
            head.append(line)
    return head, blocks


def join(head: list[str], blocks: list[Block]) -> str:
    """SDP text from its parts, with the CRLF line ends RFC 8866 asks for."""
    return "\r\n".join([*head, *(line for block in blocks for line in block)]) + "\r\n"


def attribute(block: Block, name: str) -> str | None:
    """The value of the first `a=name:value` line of `block`, or None."""
    prefix = f"a={name}:"
    return next((line[len(prefix) :] for line in block if line.startswith(prefix)), None)


def attribute_name(line: str) -> str | None:
    """`setup` for `a=setup:actpass`, `rtcp-mux` for `a=rtcp-mux`; None for a line that is not
    an attribute."""
    if not line.startswith("a="):
        return None
    return line[2:].split(":", 1)[0]


def bundle_groups(head: list[str]) -> list[list[str]]:
    """The mids of each `a=group:BUNDLE` line, in order (RFC 8843 section 7.1)."""
    return [line.split()[1:] for line in head if line.startswith("a=group:BUNDLE")]
