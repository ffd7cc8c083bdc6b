"""Keeping ICE on the addresses the operator allows.

Two seams of aioice, both replaced for the whole process (so they hold for every peer connection
the server, or a test client in the same process, makes):

- host candidates: aioice gathers from every interface and skips 127.0.0.1, so a server on loopback
  would offer its LAN address. `aioice.ice.get_host_addresses` is replaced by the allowed list.
- incoming datagrams: a browser pairs each of its interfaces with our 127.0.0.1 candidate, and its
  checks from, say, its eth0 address reach our loopback socket; aioice would answer and learn that
  address as peer-reflexive, then send checks to it. `StunProtocol.datagram_received` drops every
  datagram whose source is not allowed, so nothing is ever sent back there.

The remote side's offered candidates are filtered per SDP by `protocol.sdp.keep_candidates`.

Peer-reflexive candidates: a Firefox page without microphone permission hides its host addresses
behind mDNS names (RFC 8838's obfuscation, draft-ietf-mmusic-mdns-ice-candidates), which a server
on another network cannot resolve, and which a server on loopback drops. Such a peer is reached
only through the address its checks come from (RFC 8445 section 7.3.1.3), which aioice learns, but
only while it still expects candidates: once the offer's `a=end-of-candidates` is applied and its
mDNS names failed to resolve (aioice gives up after 1 s), aioice fails ICE at once with an empty
check list, before the browser has even read our answer. So the server holds the offer's
end-of-candidates back for `PEER_REFLEXIVE_WAIT` seconds (`remote_description`'s
`end_of_candidates=False`, then `RTCPeerConnection.addIceCandidate(None)`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import aioice.ice
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer, RTCSessionDescription

from protocol.bundle import with_bundle_transport
from protocol.sdp import keep_candidates

_original_datagram_received = aioice.ice.StunProtocol.datagram_received


def restrict_host_addresses(addresses: Sequence[str]) -> None:
    allowed = [ipaddress.ip_address(a) for a in addresses]
    allowed_text = {str(a) for a in allowed}

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [
            str(a)
            for a in allowed
            if (a.version == 4 and use_ipv4) or (a.version == 6 and use_ipv6)
        ]

    def datagram_received(
        protocol: aioice.ice.StunProtocol, data: bytes | str, addr: tuple[Any, ...]
    ) -> None:
        if addr[0] in allowed_text:
            _original_datagram_received(protocol, data, addr)

    aioice.ice.get_host_addresses = get_host_addresses
    aioice.ice.StunProtocol.datagram_received = datagram_received  # type: ignore[method-assign, assignment]  # aioice has no hook to drop datagrams from other hosts: its handler is wrapped


def rtc_configuration(ice_servers: Sequence[str] = ()) -> RTCConfiguration:
    """No STUN unless configured: aiortc's default asks a public server.

    Max-bundle: every section a peer adds later shares the first section's transport. Under
    aiortc's default (balanced), a section added by a re-offer joins the transport of the first
    section of its kind; when that first video section was itself added by a re-offer, the answer
    moves it onto the BUNDLE transport but leaves the later one on the abandoned transport, which
    never connects: the second video forwarded to an audio-only participant never played."""
    return RTCConfiguration(
        iceServers=[RTCIceServer(urls=url) for url in ice_servers],
        bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
    )


# How long ICE waits for a peer's checks once its offered candidates are exhausted: its own
# checks reach us within a round trip of it reading our answer.
PEER_REFLEXIVE_WAIT = 10.0


def remote_description(
    sdp: str, kind: str, ice_hosts: Sequence[str], *, end_of_candidates: bool = True
) -> RTCSessionDescription:
    """The peer's SDP as aiortc takes it: one description of each BUNDLE group's transport in
    all its sections (`protocol.bundle`: aiortc applies every section's to the shared transport),
    only the candidates on `ice_hosts` (when given), and without `a=end-of-candidates` unless
    `end_of_candidates` (the caller signals it later: peer-reflexive candidates, above)."""
    sdp = with_bundle_transport(sdp)
    if ice_hosts:
        sdp = keep_candidates(sdp, ice_hosts)
    if not end_of_candidates:
        sdp = "".join(
            line for line in sdp.splitlines(keepends=True) if not line.startswith("a=end-of-cand")
        )
    return RTCSessionDescription(sdp=sdp, type=kind)
