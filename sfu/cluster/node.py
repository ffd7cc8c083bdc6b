"""`ClusterNode`: this server as one node of a cluster on Redis.

Every new signaling connection is routed by its first frame. A `join` for a room this node hosts,
or that the election gives to it, is served here; a join for a room that lives elsewhere is
relayed to the owner's `/ws`. Anything else (a bad first frame) is served here, where the
protocol's own validation answers it. In the background the node renews the leases of its rooms
and publishes its load with a short TTL; on SIGTERM it drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from protocol import ErrorCode
from protocol.signaling import ErrorMessage, Join, serialize
from sfu.cluster.config import MISSING_EXTRAS, ClusterConfig, ClusterError
from sfu.cluster.leases import RoomLeases
from sfu.cluster.nodes import NodeLoad, choose_owner
from sfu.cluster.relay import RELAY_HEADER, RelayFailed, open_relay, relay

logger = logging.getLogger(__name__)

MAX_REFUSED_JOINS = 20  # a client that keeps joining while the cluster refuses is cut off


class HostedRooms(Protocol):
    """What the node needs of the server that composes it."""

    @property
    def max_rooms(self) -> int: ...

    def hosts(self, room: str) -> bool: ...

    def room_names(self) -> list[str]: ...

    def load_counts(self) -> tuple[int, int, int]:
        """(rooms, participants, caption streams)"""
        ...

    def forwarded_packets(self) -> int:
        """Audio and video packets forwarded since the node started (never decreases)."""
        ...

    async def evict(self, room: str) -> None:
        """Disconnect the room's participants: another node owns it now."""
        ...


class Unavailable(Exception):
    """A join the cluster cannot place now; the client gets `unavailable` and may retry."""


LocalHandler = Callable[[ServerConnection], Awaitable[None]]


class ClusterNode:
    def __init__(
        self,
        config: ClusterConfig,
        host: HostedRooms,
        registry: CollectorRegistry,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._host = host
        self._clock = clock
        self._redis: Any = None
        self._leases: RoomLeases | None = None
        self._url = config.advertise_url or ""
        self._tasks: list[asyncio.Task[None]] = []
        self.draining = False
        self.redis_up = False
        self.relays = 0
        self._idle = asyncio.Event()
        self._cpu = (time.process_time(), clock())
        self._cpu_fraction = 0.0
        self._forwarded = 0  # the host's forwarded packets at the last report
        self._forwarded_rate = 0.0
        self._relayed = Gauge(
            "livecaptions_relayed_connections_open",
            "Signaling connections this node relays to the room's owner now.",
            registry=registry,
        )
        self._relayed_total = Counter(
            "livecaptions_relayed_connections",
            "Signaling connections relayed to another node since start.",
            registry=registry,
        )
        Gauge(
            "livecaptions_cluster_redis_up",
            "1 while the last Redis call of this node succeeded.",
            registry=registry,
        ).set_function(lambda: float(self.redis_up))

    # --- life ------------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect to Redis; ClusterError if it is unreachable, or if the cluster extras (the
        `redis` client) are not installed: one line saying what to do, not a traceback."""
        try:
            import redis.asyncio as aioredis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError as exc:
            raise ClusterError(
                MISSING_EXTRAS.format(what="--redis", missing=(exc.name or "redis").split(".")[0])
            ) from exc

        timeout = self.config.redis_timeout
        self._redis = aioredis.from_url(
            self.config.redis_url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # a failed call is reported, not retried on the loop
        )
        try:
            await self._redis.ping()
        except Exception as exc:
            await self._redis.aclose()
            raise ClusterError(f"Redis at {self.config.redis_url} is unreachable: {exc}") from exc
        self.redis_up = True
        self._leases = RoomLeases(
            self._redis, prefix=self.config.key_prefix, lease_ms=self.config.lease_ms
        )

    async def start(self, own_url: str) -> None:
        """Publish this node (reachable at `own_url` unless --advertise-url says otherwise) and
        start renewing leases."""
        if not self._url:
            self._url = own_url
        await self._publish()
        self._tasks = [
            asyncio.ensure_future(self._every(self.config.publish_every, self._publish)),
            asyncio.ensure_future(self._every(self.config.renew_every, self._renew)),
        ]
        logger.info("node %s joined the cluster; others relay to %s", self.node_id, self._url)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._redis is None:
            return
        with contextlib.suppress(Exception):
            await self._redis.delete(self._node_key(self.node_id))
        await self._redis.aclose()

    @property
    def node_id(self) -> str:
        return self.config.node_id

    @property
    def url(self) -> str:
        return self._url

    # --- drain -----------------------------------------------------------------------------------

    async def drain(self, timeout: float) -> bool:
        """Take no new room; wait until this node hosts no room and relays nothing, or until
        `timeout`. True when it emptied."""
        self.draining = True
        with contextlib.suppress(Exception):
            await self._publish()
        logger.info("node %s draining: %d rooms left", self.node_id, len(self._host.room_names()))
        self._check_idle()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def room_closed(self, room: str) -> None:
        """The server closed a room: give its lease back at once, so a rejoin elects anew."""
        if self._leases is not None and self.redis_up:
            task = asyncio.ensure_future(self._release(room))
            self._tasks.append(task)
            task.add_done_callback(self._tasks.remove)
        self._check_idle()

    def _check_idle(self) -> None:
        if self.draining and not self._host.room_names() and self.relays == 0:
            self._idle.set()

    async def _release(self, room: str) -> None:
        assert self._leases is not None
        if self._host.hosts(room):  # reopened meanwhile: the lease is its again
            return
        try:
            await self._leases.release(room, self.node_id)
        except Exception as exc:
            logger.warning("room %s: lease not released (%s); it expires on its own", room, exc)

    # --- routing ---------------------------------------------------------------------------------

    async def route(self, websocket: ServerConnection, local: LocalHandler) -> None:
        relayed_by = websocket.request.headers.get(RELAY_HEADER) if websocket.request else None
        for _ in range(MAX_REFUSED_JOINS):
            try:
                first = await websocket.recv()
            except ConnectionClosed:
                return
            room = _joined_room(first)
            if room is None:
                return await local(_Replayed(websocket, first))  # type: ignore[arg-type]  # duck-types ServerConnection
            try:
                owner_url = await self._place(room, relayed=relayed_by is not None)
            except Unavailable as exc:
                refusal = ErrorMessage(ErrorCode.UNAVAILABLE, str(exc), Join.TYPE)
                try:
                    await websocket.send(serialize(refusal))
                except ConnectionClosed:
                    return
                continue
            if owner_url is None:
                return await local(_Replayed(websocket, first))  # type: ignore[arg-type]  # duck-types ServerConnection
            return await self._relay(websocket, owner_url, first)
        await websocket.close(1008, "too many refused joins")

    async def _relay(self, websocket: ServerConnection, owner_url: str, first: str | bytes) -> None:
        try:
            owner = await open_relay(owner_url, self.node_id, self.config.relay_timeout)
        except RelayFailed as exc:
            logger.warning("%s", exc)
            refusal = ErrorMessage(ErrorCode.UNAVAILABLE, str(exc), Join.TYPE)
            with contextlib.suppress(ConnectionClosed):
                await websocket.send(serialize(refusal))
            await websocket.close(1011, "the room's node is unreachable")
            return
        self.relays += 1
        self._relayed.inc()
        self._relayed_total.inc()
        try:
            await relay(websocket, owner, first)
        finally:
            self.relays -= 1
            self._relayed.dec()
            self._check_idle()

    async def _place(self, room: str, *, relayed: bool) -> str | None:
        """Where a join of `room` is served: None for here, else the owner's /ws URL."""
        if self._host.hosts(room):
            return None  # ours already: it keeps working even while Redis is out of reach
        try:
            return await asyncio.wait_for(
                self._elect(room, relayed=relayed), self.config.redis_timeout * 2
            )
        except Unavailable:
            raise
        except Exception as exc:  # redis errors, OSError, TimeoutError
            self._lost(exc)
            raise Unavailable("the cluster registry is unreachable; try again shortly") from exc

    async def _elect(self, room: str, *, relayed: bool) -> str | None:
        assert self._leases is not None
        owner = await self._leases.owner(room)
        if owner is None:
            # A relayed join: the relaying node elected us. Else elect (never a draining node).
            candidate = self.node_id if relayed else (await self._choose()).node_id
            owner = await self._leases.claim(room, candidate)
        self.redis_up = True
        if owner == self.node_id:
            if self.draining:
                raise Unavailable("this node is shutting down; try again shortly")
            return None
        if relayed:
            raise Unavailable(f"room {room!r} moved to another node; try again")
        load = await self._load_of(owner)
        if load is None:
            raise Unavailable(f"room {room!r}'s node is not answering; try again shortly")
        return load.url

    async def _choose(self) -> NodeLoad:
        live = await self._live_nodes()
        target = choose_owner(self._own_load(), live, self.config.cpu_limit)
        if target is None:
            raise Unavailable("every node of the cluster is full or shutting down")
        return target

    # --- load and leases in Redis ----------------------------------------------------------------

    def _node_key(self, node_id: str) -> str:
        return f"{self.config.key_prefix}:node:{node_id}"

    def _own_load(self) -> NodeLoad:
        rooms, participants, streams = self._host.load_counts()
        return NodeLoad(
            forwarded_per_second=self._forwarded_rate,
            node_id=self.node_id,
            url=self._url,
            rooms=rooms,
            participants=participants,
            streams=streams,
            cpu=self._cpu_fraction,
            max_rooms=self._host.max_rooms,
            draining=self.draining,
        )

    async def _live_nodes(self) -> list[NodeLoad]:
        keys = [key async for key in self._redis.scan_iter(match=self._node_key("*"), count=100)]
        values = await self._redis.mget(keys) if keys else []
        return [NodeLoad.from_json(v) for v in values if v is not None]

    async def _load_of(self, node_id: str) -> NodeLoad | None:
        value = await self._redis.get(self._node_key(node_id))
        return None if value is None else NodeLoad.from_json(value)

    async def _publish(self) -> None:
        process, now = time.process_time(), self._clock()
        last_process, last_now = self._cpu
        forwarded, last_forwarded = self._host.forwarded_packets(), self._forwarded
        if now > last_now:
            self._cpu_fraction = (process - last_process) / (now - last_now)
            self._forwarded_rate = (forwarded - last_forwarded) / (now - last_now)
        self._cpu = (process, now)
        self._forwarded = forwarded
        load = self._own_load()
        await self._redis.set(
            self._node_key(self.node_id), load.to_json(), px=self.config.load_ttl_ms
        )

    async def _renew(self) -> None:
        assert self._leases is not None
        for room in self._host.room_names():
            if not await self._leases.renew(room, self.node_id):
                # This node could not renew in time (starved, or cut off from Redis longer than
                # a lease) and another node took the room: it must not serve it too. Its
                # participants are disconnected; their reconnect reaches the new owner.
                logger.error("room %s: its lease went to another node; disconnecting", room)
                await self._host.evict(room)

    async def _every(self, seconds: float, step: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await asyncio.wait_for(step(), self.config.redis_timeout * 2)
            except Exception as exc:
                self._lost(exc)
            else:
                if not self.redis_up:
                    logger.warning("node %s: Redis is reachable again", self.node_id)
                self.redis_up = True
            await asyncio.sleep(seconds)

    def _lost(self, exc: BaseException) -> None:
        if self.redis_up:
            logger.warning("node %s: Redis unreachable (%s): no new rooms", self.node_id, exc)
        self.redis_up = False


def _joined_room(frame: str | bytes) -> str | None:
    """The room of a valid `join` frame; None for anything else (served locally, where the
    protocol's validation answers it)."""
    from protocol.signaling import parse_client_frame

    try:
        message = parse_client_frame(frame)
    except Exception:
        return None
    return message.room if isinstance(message, Join) else None


class _Replayed:
    """A server connection whose first frame, already read for routing, is read again."""

    def __init__(self, websocket: ServerConnection, first: str | bytes) -> None:
        self._websocket = websocket
        self._first: str | bytes | None = first

    def __getattr__(self, name: str) -> Any:
        return getattr(self._websocket, name)

    async def recv(self) -> str | bytes:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return await self._websocket.recv()

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[str | bytes]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        async for frame in self._websocket:
            yield frame
