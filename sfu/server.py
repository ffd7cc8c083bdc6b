"""The caption server: wires the signaling endpoint, rooms and the captioning port (our engine in
process, or remote caption servers)."""

from __future__ import annotations

import asyncio
import hmac
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
from captioner import engines
from captioner.engine import Engine
from captionlog.log import CaptionLog
from protocol import Caption, ErrorCode, ErrorMessage, Feature, Join, Joined, ProtocolError
from sfu import memory
from sfu.captioning.port import CaptioningPort, InProcessCaptioning
from sfu.captioning.remote import RemoteCaptioning, RemoteConfig
from sfu.cluster.node import ClusterNode
from sfu.config import ServerConfig
from sfu.media.ice import restrict_host_addresses, rtc_configuration
from sfu.metrics import ServerMetrics
from sfu.rooms.language import UnsupportedLanguage, chosen
from sfu.rooms.participant import Participant
from sfu.rooms.recorder import CaptionRecorder
from sfu.rooms.room import Room
from sfu.web.auth import AuthEndpoints
from sfu.web.bodies import BodyReadingConnection
from sfu.web.captioner import LINE_RATE
from sfu.web.http import make_process_request
from sfu.web.review import CORRECTION_RATE
from sfu.web.signaling import SignalingConnection
from sfu.web.throttle import JoinThrottle, RateLimiter

logger = logging.getLogger(__name__)

# A frame past this closes the socket (1009) instead of getting a `too-large` error frame.
HARD_FRAME_LIMIT = 1024 * 1024
# A closing handshake waits this long for the client's close frame. A flooding client's frames
# fill websockets' read queue, which stops reading, so its close frame is never seen: the default
# 10 s would keep an abusive socket that long.
CLOSE_TIMEOUT = 2.0


def build_engine(config: ServerConfig) -> Engine:
    return engines.build_engine(config.engine, whisper=config.whisper, kyutai=config.kyutai)


def make_captioning(
    config: ServerConfig, engine_factory: Callable[[ServerConfig], Engine]
) -> CaptioningPort:
    """Remote caption servers when `--captioner` names some, else our engine in this process."""
    if config.captioners:
        return RemoteCaptioning(RemoteConfig(urls=config.captioners, api_key=config.captioner_key))
    return InProcessCaptioning(lambda: engine_factory(config), config.scheduler)


class CaptionServer:
    def __init__(
        self,
        config: ServerConfig,
        *,
        engine_factory: Callable[[ServerConfig], Engine] = build_engine,
    ) -> None:
        self.config = config
        self.rooms: dict[str, Room] = {}
        self._finishing: set[Room] = set()  # closed rooms whose last captions are still to come
        self.captioning = make_captioning(config, engine_factory)
        self._stream_ids = 0
        self._server: Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.caption_listeners: list[Callable[[Room, Caption], None]] = []
        self.metrics = ServerMetrics(
            lambda: list(self.rooms.values()),
            self.captioning.stats,
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
        self.correction_limits = RateLimiter(CORRECTION_RATE)  # per reviewer
        self.line_limits = RateLimiter(LINE_RATE)  # human captioners' lines, per room
        self._releasing: asyncio.Future[bool] | None = None
        self._forwarded_closed = 0  # packets forwarded in rooms now closed
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
        await self.captioning.start()
        unsupported = self.config.languages.unsupported(self.captioning.languages)
        if unsupported:
            await self.captioning.stop()
            raise UnsupportedLanguage(
                f"the caption engine ({self.captioning.engine_name}) does not caption "
                f"{', '.join(sorted(set(unsupported)))}: see --language and the rooms file"
            )
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=make_process_request(self),
            create_connection=BodyReadingConnection,  # reads API request bodies (PATCH, POST)
            max_size=HARD_FRAME_LIMIT,
            close_timeout=CLOSE_TIMEOUT,
            server_header="livecaptions",
        )
        if self.cluster is not None:
            await self.cluster.start(f"ws://{self.config.host}:{self.port}/ws")
        logger.info("serving on %s with engine %s", self.url, self.captioning.engine_name)

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
        await self.captioning.stop()
        if self.log is not None:
            await asyncio.to_thread(self.log.stop)
        if self.oidc is not None:
            await self.oidc.close()

    @property
    def port(self) -> int:
        assert self._server is not None, "the server is not started"
        port: int = self._server.sockets[0].getsockname()[1]  # an IP socket's (host, port)
        return port

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    def health(self) -> dict[str, Any]:
        ready = self.captioning.running
        return {
            "status": "ok" if ready else "unavailable",
            "engine": self.captioning.engine_name if ready else None,
            "languages": list(self.captioning.languages),
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

    def forwarded_packets(self) -> int:
        """Audio and video packets forwarded since the server started: the forwarding work the
        cluster's placement weighs (a video room is as big as the packets it moves)."""
        return self._forwarded_closed + sum(_forwarded(r) for r in self.rooms.values())

    def load_counts(self) -> tuple[int, int, int]:
        participants = sum(len(r.participants) for r in self.rooms.values())
        streams = sum(r.stream_count for r in (*self.rooms.values(), *self._finishing))
        return len(self.rooms), participants, streams

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
        if not self.captioning.running:
            raise ProtocolError(ErrorCode.UNAVAILABLE, "the caption engine is not ready", Join.TYPE)
        language = self._language_of(message)
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
            return self._enter(message, admission, language, room, signaling)
        finally:  # a join that failed half-way must not leave a room behind (nor one open)
            if room.empty:
                await self._close_if_empty(room)

    def _enter(
        self,
        message: Join,
        admission: Admission,
        language: str | None,
        room: Room,
        signaling: SignalingConnection,
    ) -> Participant:
        participant = Participant(
            participant_id=f"p-{secrets.token_hex(4)}",
            name=admission.name.strip(),
            identity=admission.identity,
            grants=admission.grants,
            batch_presence=message.wants(Feature.PARTICIPANTS),
            room=room,
            signaling=signaling,
            pc=RTCPeerConnection(rtc_configuration(self.config.ice_servers)),
            subtitles=message.subtitles and Grant.CAPTIONS in admission.grants,
            language=language,
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
        for media in room.media_states(but=participant.id):
            signaling.send(media)
        return participant

    def _language_of(self, message: Join) -> str | None:
        try:
            return chosen(message.language, self.captioning.languages)
        except UnsupportedLanguage as exc:
            raise ProtocolError(ErrorCode.BAD_REQUEST, str(exc), Join.TYPE) from exc

    async def leave(self, participant: Participant) -> None:
        """Never leaves an empty room behind, whatever failed while removing the participant."""
        room = self.rooms.get(participant.room.name)
        if room is None or room.participants.get(participant.id) is not participant:
            return  # its room closed already, and took it out
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
        if self.rooms or self._finishing or self._releasing is not None:
            return
        self._releasing = asyncio.ensure_future(asyncio.to_thread(memory.release))
        self._releasing.add_done_callback(self._released)

    def _released(self, task: asyncio.Future[bool]) -> None:
        self._releasing = None
        if not task.cancelled() and task.exception() is not None:
            logger.warning("releasing memory failed: %r", task.exception())

    async def _close_room(self, room: Room) -> None:
        self._forwarded_closed += _forwarded(room)
        try:
            await room.close()
        finally:
            if self._recorder is not None:
                self._recorder.session_ended(room)
            if not room.done:
                self._finishing.add(room)  # its last captions are still to come

    def _open_room(self, name: str) -> Room:
        self._stream_ids += 1
        room = Room(
            name=name,
            stream_id=f"{name}#{self._stream_ids}",
            captioning=self.captioning,
            engine_name=self.captioning.engine_name,
            languages=self.captioning.languages,
            events=self,
            mode=self.config.caption_mode_of(name),
            default_language=self.config.languages.for_room(name),
            speaking=self.config.speaking,
            presence=self.config.presence,
            max_subscriber_video=self.config.max_subscriber_video,
        )
        self.rooms[name] = room
        if self._recorder is not None:
            self._recorder.session_started(room)
        return room

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

    def on_done(self, room: Room) -> None:
        """A closed room's last stream finished: the engine's last step for it ran."""
        self._finishing.discard(room)
        self._release_if_idle()

    def on_flag(self, room: Room, participant: Participant, segment: str, reason: str) -> None:
        logger.info("room %s: %s flagged caption %s", room.name, participant.id, segment)
        self.metrics.flags.inc()
        if self._recorder is not None:
            self._recorder.flag(room, participant, segment, reason)


def _forwarded(room: Room) -> int:
    """Packets `room` forwarded so far, audio and video."""
    return room.forwarding.counters.forwarded + room.video.forwarded
