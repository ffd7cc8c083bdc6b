"""The caption server: wires the signaling endpoint, rooms, the scheduler and the engine."""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection
from websockets.asyncio.server import Server, ServerConnection, serve

from access import (
    DEFAULT_GRANTS,
    Forbidden,
    Grant,
    InvalidToken,
    KeyRing,
    TokenIssuer,
    TokenVerifier,
)
from access.admission import Admission, Gatekeeper
from access.oidc import OidcClient
from captioner.engine import Engine, StreamUpdate
from captioner.scheduler import CaptionScheduler, SchedulerStats
from captionlog.log import CaptionLog
from protocol import Caption, ErrorCode, ErrorMessage, Join, Joined, ProtocolError

from . import memory
from .auth import AuthEndpoints
from .cluster.node import ClusterNode
from .config import ENGINES, ServerConfig
from .http import make_process_request
from .ice import restrict_host_addresses, rtc_configuration
from .metrics import ServerMetrics
from .participant import Participant
from .recorder import CaptionRecorder
from .room import Room
from .signaling import SignalingConnection
from .throttle import JoinThrottle

logger = logging.getLogger(__name__)

# A frame past this closes the socket (1009) instead of getting a `too-large` error frame.
HARD_FRAME_LIMIT = 1024 * 1024
# A closing handshake waits this long for the client's close frame. A flooding client's frames
# fill websockets' read queue, which stops reading, so its close frame is never seen: the default
# 10 s would keep an abusive socket that long.
CLOSE_TIMEOUT = 2.0


def build_engine(config: ServerConfig) -> Engine:
    if config.engine == "whisper":
        from captioner.whisper_engine import WhisperEngine

        return WhisperEngine(config.whisper)
    if config.engine == "kyutai":
        from captioner.kyutai_engine import KyutaiEngine

        return KyutaiEngine(config.kyutai)
    raise ValueError(f"unknown engine {config.engine!r}; available: {', '.join(ENGINES)}")


class CaptionServer:
    def __init__(
        self,
        config: ServerConfig,
        *,
        engine_factory: Callable[[ServerConfig], Engine] = build_engine,
    ) -> None:
        self.config = config
        self.rooms: dict[str, Room] = {}
        self._engine_factory = engine_factory
        self._engine: Engine | None = None
        self._scheduler: CaptionScheduler | None = None
        self._stream_rooms: dict[str, Room] = {}
        self._stream_ids = itertools.count(1)
        self._server: Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.caption_listeners: list[Callable[[Room, Caption], None]] = []
        self.metrics = ServerMetrics(
            lambda: list(self.rooms.values()),
            self._scheduler_stats,
            room_labels=config.metrics_room_labels,
        )
        self.log: CaptionLog | None = None
        self._recorder: CaptionRecorder | None = None
        # Room tokens and single sign-on (None: the shared --participant-token, or nothing).
        self.gatekeeper: Gatekeeper | None = None
        self.token_issuer: TokenIssuer | None = None
        self.oidc: OidcClient | None = None
        self.auth: AuthEndpoints | None = None
        if config.access is not None:
            keys = config.access.keys or KeyRing.ephemeral()
            verifier = TokenVerifier(keys, config.access.leeway)
            self.gatekeeper = Gatekeeper(verifier, config.access.rooms)
            self.token_issuer = TokenIssuer(keys)
            self.oidc = OidcClient(config.access.oidc) if config.access.oidc else None
            public_url = config.access.public_url
            self.auth = AuthEndpoints(
                issuer=self.token_issuer,
                rooms=config.access.rooms,
                base_url=lambda: public_url or self.url,
                oidc=self.oidc,
                mint_token=config.access.mint_token,
                max_ttl=config.access.max_ttl,
            )
        self.join_throttle = JoinThrottle(config.join_throttle)
        self._releasing: asyncio.Future[bool] | None = None
        self.cluster: ClusterNode | None = None
        if config.cluster is not None:
            self.cluster = ClusterNode(config.cluster, self, self.metrics.registry)

    # --- life ------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.cluster is not None:  # first: an unreachable Redis is said before the model loads
            await self.cluster.connect()
        if self.config.log.path is not None:
            self.log = CaptionLog(self.config.log)
            await asyncio.to_thread(self.log.start)
            self._recorder = CaptionRecorder(self.log)
            self.metrics.watch_log(self.log)
        if self.config.ice_hosts:
            restrict_host_addresses(self.config.ice_hosts)
        # Loading the model takes a while: off the loop, like every piece of model work.
        self._engine = await asyncio.to_thread(self._engine_factory, self.config)
        self._scheduler = CaptionScheduler(self._engine, self._deliver, self.config.scheduler)
        self._scheduler.start()
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=make_process_request(self),
            max_size=HARD_FRAME_LIMIT,
            close_timeout=CLOSE_TIMEOUT,
            server_header="livecaptions",
        )
        if self.cluster is not None:
            await self.cluster.start(f"ws://{self.config.host}:{self.port}/ws")
        logger.info("serving on %s with engine %s", self.url, self._engine.name)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self.cluster is not None:
            await self.cluster.stop()
        for room in list(self.rooms.values()):
            await self._close_room(room)
        self.rooms.clear()
        if self._releasing is not None:
            await self._releasing
        if self._scheduler is not None:
            await asyncio.to_thread(self._scheduler.stop)
        if self.log is not None:
            await asyncio.to_thread(self.log.stop)
        if self.oidc is not None:
            await self.oidc.close()

    @property
    def port(self) -> int:
        assert self._server is not None, "the server is not started"
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def engine(self) -> Engine:
        assert self._engine is not None, "the server is not started"
        return self._engine

    def health(self) -> dict[str, Any]:
        ready = self._scheduler is not None and self._scheduler.running
        return {
            "status": "ok" if ready else "unavailable",
            "engine": self._engine.name if self._engine else None,
            "languages": list(self._engine.languages) if self._engine else [],
            "rooms": len(self.rooms),
            "participants": sum(len(r.participants) for r in self.rooms.values()),
        } | ({"node": self.cluster.node_id} if self.cluster is not None else {})

    # --- what a cluster node asks (cluster.node.HostedRooms) -------------------------------------

    @property
    def max_rooms(self) -> int:
        return self.config.max_rooms

    def hosts(self, room: str) -> bool:
        return room in self.rooms

    def room_names(self) -> list[str]:
        return list(self.rooms)

    def load_counts(self) -> tuple[int, int, int]:
        participants = sum(len(r.participants) for r in self.rooms.values())
        return len(self.rooms), participants, len(self._stream_rooms)

    async def evict(self, name: str) -> None:
        """Cluster mode: the room's lease went to another node. Tell its participants and close
        their sockets (1012, "service restart"): the page's reconnect joins the new owner."""
        room = self.rooms.get(name)
        if room is None:
            return
        moved = ProtocolError(ErrorCode.UNAVAILABLE, "this meeting moved to another server")
        for participant in list(room.participants.values()):
            participant.signaling.send(ErrorMessage.from_error(moved))
            websocket = getattr(participant.signaling, "websocket", None)
            if websocket is not None:
                await websocket.close(1012, "the meeting moved; join again")

    async def drain(self, timeout: float) -> bool:
        """Cluster mode: take no new room, wait for ours to empty (True) or `timeout` (False)."""
        assert self.cluster is not None, "only a cluster node drains"
        return await self.cluster.drain(timeout)

    def _scheduler_stats(self) -> SchedulerStats:
        if self._scheduler is None:
            return SchedulerStats(0, (), {}, {}, 0.0, 0)
        return self._scheduler.stats()

    # --- signaling -------------------------------------------------------------------------------

    async def _handle(self, websocket: ServerConnection) -> None:
        if self.cluster is not None:
            await self.cluster.route(websocket, self._signal)
        else:
            await self._signal(websocket)

    async def _signal(self, websocket: ServerConnection) -> None:
        await SignalingConnection(websocket, self, self.config.session_limits).run()

    def rotate_keys(self, keys: KeyRing) -> None:
        """New token keys (a reloaded key file): joins and mints from now on use them."""
        if self.gatekeeper is not None and self.token_issuer is not None:
            self.gatekeeper.verifier.keys = keys
            self.token_issuer.keys = keys

    def admit(self, message: Join) -> Admission:
        """Who joins, under which name, with which grants; ProtocolError when refused."""
        if self.gatekeeper is None:
            token = self.config.participant_token
            if token is not None and not hmac.compare_digest(
                message.token.encode(), token.encode()
            ):
                raise ProtocolError(ErrorCode.UNAUTHORIZED, "invalid participant token", Join.TYPE)
            return Admission(name=message.name.strip(), grants=DEFAULT_GRANTS)
        try:
            return self.gatekeeper.admit(message.room, message.token, message.name, time.time())
        except InvalidToken as exc:
            raise ProtocolError(ErrorCode.UNAUTHORIZED, str(exc), Join.TYPE) from None
        except Forbidden as exc:
            raise ProtocolError(ErrorCode.FORBIDDEN, str(exc), Join.TYPE) from None

    async def join(self, message: Join, signaling: SignalingConnection) -> Participant:
        admission = self.admit(message)
        if self._scheduler is None or not self._scheduler.running:
            raise ProtocolError(ErrorCode.UNAVAILABLE, "the caption engine is not ready", Join.TYPE)
        room = self.rooms.get(message.room)
        if room is None:
            if len(self.rooms) >= self.config.max_rooms:
                raise ProtocolError(
                    ErrorCode.UNAVAILABLE, "the server hosts its maximum number of rooms", Join.TYPE
                )
            room = self._open_room(message.room)
        if len(room.participants) >= self.config.max_participants:
            raise ProtocolError(
                ErrorCode.ROOM_FULL,
                f"room {message.room!r} has its maximum of {self.config.max_participants}",
                Join.TYPE,
            )
        try:
            return self._enter(message, admission, room, signaling)
        finally:  # a join that failed half-way must not leave a room behind (nor one open)
            if room.empty:
                await self._close_if_empty(room)

    def _enter(
        self, message: Join, admission: Admission, room: Room, signaling: SignalingConnection
    ) -> Participant:
        participant = Participant(
            participant_id=f"p-{secrets.token_hex(4)}",
            name=admission.name.strip(),
            identity=admission.identity,
            grants=admission.grants,
            room=room,
            signaling=signaling,
            pc=RTCPeerConnection(rtc_configuration(self.config.ice_servers)),
            subtitles=message.subtitles and Grant.CAPTIONS in admission.grants,
            language=message.language,
            ice_hosts=self.config.ice_hosts,
            jitter_prefetch=self.config.jitter_prefetch,
        )
        others = tuple(p.info for p in room.participants.values())
        room.add(participant)
        signaling.send(  # cannot fail: the session only queues it
            Joined(
                participant=participant.id,
                room=room.name,
                participants=others,
                clock_origin=room.clock_origin,
                engine=room.engine_name,
                languages=room.languages,
            )
        )
        return participant

    async def leave(self, participant: Participant) -> None:
        """Never leaves an empty room behind, whatever failed while removing the participant."""
        room = participant.room
        try:
            await room.remove(participant)
        finally:
            await self._close_if_empty(room)

    async def _close_if_empty(self, room: Room) -> None:
        if room.empty and self.rooms.get(room.name) is room:
            del self.rooms[room.name]
            await self._close_room(room)
            if self.cluster is not None:
                self.cluster.room_closed(room.name)
            self._release_if_idle()

    def _release_if_idle(self) -> None:
        """With no room open and no stream left to caption, what they held (aiortc peers, the
        engine's working memory) goes back to the system, off the loop."""
        if self.rooms or self._stream_rooms or self._releasing is not None:
            return
        self._releasing = asyncio.ensure_future(asyncio.to_thread(memory.release))
        self._releasing.add_done_callback(self._released)

    def _released(self, task: asyncio.Future[bool]) -> None:
        self._releasing = None
        if not task.cancelled() and task.exception() is not None:
            logger.warning("releasing memory failed: %r", task.exception())

    async def _close_room(self, room: Room) -> None:
        try:
            await room.close()
        finally:
            if self._recorder is not None:
                self._recorder.session_ended(room)
            if room.done:
                self._stream_rooms.pop(room.stream_id, None)

    def _open_room(self, name: str) -> Room:
        assert self._scheduler is not None and self._engine is not None
        room = Room(
            name=name,
            stream_id=f"{name}#{next(self._stream_ids)}",
            scheduler=self._scheduler,
            engine_name=self._engine.name,
            languages=tuple(self._engine.languages),
            events=self,
            mode=self.config.caption_mode_of(name),
        )
        self.rooms[name] = room
        self._stream_rooms[room.stream_id] = room
        if self._recorder is not None:
            self._recorder.session_started(room)
        return room

    # --- captions --------------------------------------------------------------------------------

    def _deliver(self, updates: list[StreamUpdate], closed: list[str]) -> None:
        """Called on the inference thread: hop onto the loop."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._on_updates, updates, closed)

    def _on_updates(self, updates: list[StreamUpdate], closed: list[str]) -> None:
        for update in updates:
            room = self._room_of(update.stream_id)
            if room is None:
                continue
            try:
                room.on_update(update)
            except Exception:  # one stream's bad update must not cost the others theirs
                logger.exception("room %s: an engine update could not be captioned", room.name)
        for stream_id in closed:
            room = self._room_of(stream_id)
            if room is not None:
                room.finish(stream_id)
                if room.done:
                    del self._stream_rooms[room.stream_id]
                    self._release_if_idle()  # the engine's last step for the last room

    def _room_of(self, stream_id: str) -> Room | None:
        # A room's streams are its stream id, or that id / a participant id (per-speaker mode).
        return self._stream_rooms.get(stream_id.split("/", 1)[0])

    # --- what rooms tell (RoomEvents) -------------------------------------------------------------

    def on_caption(self, room: Room, caption: Caption) -> None:
        latency = room.now() - caption.end
        self.metrics.caption_latency.labels(str(caption.final).lower()).observe(max(0.0, latency))
        self.metrics.captions_sent.inc(
            sum(1 for p in room.participants.values() if p.subtitles and p.channel is not None)
        )
        if self._recorder is not None:
            self._recorder.caption(room, caption, latency)
        for listener in self.caption_listeners:
            listener(room, caption)

    def on_speech(self, room: Room, spans: list[tuple[float, float]]) -> None:
        if self._recorder is not None:
            self._recorder.speech(room, spans)

    def on_flag(self, room: Room, participant: Participant, segment: str, reason: str) -> None:
        logger.info("room %s: %s flagged caption %s", room.name, participant.id, segment)
        self.metrics.flags.inc()
        if self._recorder is not None:
            self._recorder.flag(room, participant, segment, reason)
