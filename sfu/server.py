"""The caption server: wires the signaling endpoint, rooms and the captioning port (our engine in
process, or remote caption servers)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection
from websockets.asyncio.server import Server, ServerConnection, serve

from captioner.engine import Engine
from captionlog.log import CaptionLog
from protocol import Caption, ErrorCode, Join, Joined, ProtocolError

from .captioning import CaptioningPort, InProcessCaptioning
from .config import ENGINES, ServerConfig
from .http import make_process_request
from .ice import restrict_host_addresses, rtc_configuration
from .metrics import ServerMetrics
from .participant import Participant
from .recorder import CaptionRecorder
from .remote_captioning import RemoteCaptioning, RemoteConfig
from .room import Room
from .signaling import SignalingConnection

logger = logging.getLogger(__name__)

# A frame past this closes the socket (1009) instead of getting a `too-large` error frame.
HARD_FRAME_LIMIT = 1024 * 1024


def build_engine(config: ServerConfig) -> Engine:
    if config.engine == "whisper":
        from captioner.whisper_engine import WhisperEngine

        return WhisperEngine(config.whisper)
    if config.engine == "kyutai":
        from captioner.kyutai_engine import KyutaiEngine

        return KyutaiEngine(config.kyutai)
    raise ValueError(f"unknown engine {config.engine!r}; available: {', '.join(ENGINES)}")


def make_captioning(
    config: ServerConfig, engine_factory: Callable[[ServerConfig], Engine]
) -> CaptioningPort:
    """Remote caption servers when `--captioner` names some, else our engine in this process."""
    if config.captioners:
        return RemoteCaptioning(
            RemoteConfig(urls=config.captioners, api_key=config.captioner_key)
        )
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
        self.captioning = make_captioning(config, engine_factory)
        self._stream_ids = 0
        self._server: Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.caption_listeners: list[Callable[[Room, Caption], None]] = []
        self.metrics = ServerMetrics(lambda: list(self.rooms.values()), self.captioning.stats)
        self.log: CaptionLog | None = None
        self._recorder: CaptionRecorder | None = None

    # --- life ------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.config.log.path is not None:
            self.log = CaptionLog(self.config.log)
            await asyncio.to_thread(self.log.start)
            self._recorder = CaptionRecorder(self.log)
            self.metrics.watch_log(self.log)
        if self.config.ice_hosts:
            restrict_host_addresses(self.config.ice_hosts)
        await self.captioning.start()
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=make_process_request(self),
            max_size=HARD_FRAME_LIMIT,
            server_header="livecaptions",
        )
        logger.info("serving on %s with engine %s", self.url, self.captioning.engine_name)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for room in list(self.rooms.values()):
            await self._close_room(room)
        self.rooms.clear()
        await self.captioning.stop()
        if self.log is not None:
            await asyncio.to_thread(self.log.stop)

    @property
    def port(self) -> int:
        assert self._server is not None, "the server is not started"
        return self._server.sockets[0].getsockname()[1]

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
        }

    # --- signaling -------------------------------------------------------------------------------

    async def _handle(self, websocket: ServerConnection) -> None:
        await SignalingConnection(websocket, self, self.config.session_limits).run()

    async def join(self, message: Join, signaling: SignalingConnection) -> Participant:
        token = self.config.participant_token
        if token is not None and not hmac.compare_digest(message.token.encode(), token.encode()):
            raise ProtocolError(ErrorCode.UNAUTHORIZED, "invalid participant token", Join.TYPE)
        if not self.captioning.running:
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
        participant = Participant(
            participant_id=f"p-{secrets.token_hex(4)}",
            name=message.name.strip(),
            room=room,
            signaling=signaling,
            pc=RTCPeerConnection(rtc_configuration(self.config.ice_servers)),
            subtitles=message.subtitles,
            language=message.language,
            ice_hosts=self.config.ice_hosts,
            jitter_prefetch=self.config.jitter_prefetch,
        )
        others = tuple(p.info for p in room.participants.values())
        room.add(participant)
        signaling.send(
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
        room = participant.room
        await room.remove(participant)
        if room.empty and self.rooms.get(room.name) is room:
            del self.rooms[room.name]
            await self._close_room(room)

    async def _close_room(self, room: Room) -> None:
        await room.close()
        if self._recorder is not None:
            self._recorder.session_ended(room)

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

    def on_flag(self, room: Room, participant: Participant, segment: str, reason: str) -> None:
        logger.info("room %s: %s flagged caption %s", room.name, participant.id, segment)
        self.metrics.flags.inc()
        if self._recorder is not None:
            self._recorder.flag(room, participant, segment, reason)
