"""Signaling for a room owned by another node, relayed frame by frame to the owner's `/ws`.

The client never knows: it keeps its socket to the node it reached, every text frame goes to the
owner unchanged and every frame of the owner comes back unchanged, and the owner's close code
ends the client's socket. Media does not come here: the owner's SDP carries its own ICE
candidates, so the client's audio flows straight to the owner.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

logger = logging.getLogger(__name__)

RELAY_HEADER = "X-Livecaptions-Relayed-By"  # marks a relayed connection: never relayed again


class RelayFailed(Exception):
    """The owner's /ws could not be reached."""


class Socket(Protocol):
    """What the relay needs of the client's socket (a websockets ServerConnection)."""

    def __aiter__(self) -> AsyncIterator[str | bytes]: ...

    async def send(self, message: str | bytes) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


async def open_relay(owner_url: str, node_id: str, timeout: float) -> ClientConnection:
    try:
        return await asyncio.wait_for(
            connect(
                owner_url,
                additional_headers={RELAY_HEADER: node_id},
                max_size=None,  # the owner enforces the protocol's limits; we only carry frames
                open_timeout=timeout,
            ),
            timeout,
        )
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
        raise RelayFailed(f"the room's node at {owner_url} is unreachable: {exc}") from exc


async def relay(client: Socket, owner: ClientConnection, first: str | bytes) -> None:
    """Send `first` (the client's join) to the owner, then pump both ways until one side closes;
    the owner's close code and reason are passed on to the client."""
    await owner.send(first)
    upstream = asyncio.ensure_future(_pump(client, owner))
    downstream = asyncio.ensure_future(_pump(owner, client))
    try:
        await asyncio.wait((upstream, downstream), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (upstream, downstream):
            task.cancel()
        await asyncio.gather(upstream, downstream, return_exceptions=True)
        await owner.close()
        code = owner.close_code if owner.close_code is not None else 1000
        if code in (1005, 1006):  # not codes one may send in a close frame (RFC 6455 §7.4.1)
            code = 1011 if code == 1006 else 1000
        await client.close(code, owner.close_reason or "")


async def _pump(source: Socket | ClientConnection, sink: Socket | ClientConnection) -> None:
    try:
        async for frame in source:
            await sink.send(frame)
    except ConnectionClosed:
        pass
