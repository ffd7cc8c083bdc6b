"""Keeping ICE on the addresses the operator allows.

aioice gathers host candidates from every interface and skips 127.0.0.1, so a server on loopback
would offer its LAN address. Its host-address lookup (`aioice.ice.get_host_addresses`) is the seam:
`restrict_host_addresses` replaces it for the whole process, which holds for every peer connection
the server (or a test client in the same process) makes. The remote side is handled per SDP by
`protocol.sdp.keep_candidates`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer


def restrict_host_addresses(addresses: Sequence[str]) -> None:
    allowed = [ipaddress.ip_address(a) for a in addresses]

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [
            str(a)
            for a in allowed
            if (a.version == 4 and use_ipv4) or (a.version == 6 and use_ipv6)
        ]

    aioice.ice.get_host_addresses = get_host_addresses


def rtc_configuration(ice_servers: Sequence[str] = ()) -> RTCConfiguration:
    """No STUN unless configured: aiortc's default asks a public server."""
    return RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in ice_servers])
