"""The caption server: wires the signaling endpoint, rooms, the scheduler and the engine."""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import secrets
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection
from websockets.asyncio.server import Server, ServerConnection, serve

from captioner.engine import Engine, StreamUpdate
from captioner.scheduler import CaptionScheduler, SchedulerStats
from captionlog.log import CaptionLog
from protocol import Caption, ErrorCode, Join, Joined, ProtocolError

from .config import ENGINES, ServerConfig
from .http import make_process_request
from .ice import restrict_host_addresses, rtc_configuration
from .metrics import ServerMetrics
from .participant import Participant
from .recorder import CaptionRecorder
from .room import Room
from .room_language import UnsupportedLanguage, chosen
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
        self.metrics = ServerMetrics(lambda: list(self.rooms.values()), self._scheduler_stats)
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
            server_header="livecaptions",
        )
        logger.info("serving on %s with engine %s", self.url, self._engine.name)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for room in list(self.rooms.values()):
            await self._close_room(room)
        self.rooms.clear()
        if self._scheduler is not None:
            await asyncio.to_thread(self._scheduler.stop)
        if self.log is not None:
            await asyncio.to_thread(self.log.stop)

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
        }

    def _scheduler_stats(self) -> SchedulerStats:
        if self._scheduler is None:
            return SchedulerStats(0, (), {}, {}, 0.0, 0)
        return self._scheduler.stats()

    # --- signaling -------------------------------------------------------------------------------

    async def _handle(self, websocket: ServerConnection) -> None:
        await SignalingConnection(websocket, self, self.config.session_limits).run()

    async def join(self, message: Join, signaling: SignalingConnection) -> Participant:
        token = self.config.participant_token
        if token is not None and not hmac.compare_digest(message.token.encode(), token.encode()):
            raise ProtocolError(ErrorCode.UNAUTHORIZED, "invalid participant token", Join.TYPE)
        if self._scheduler is None or not self._scheduler.running:
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
        participant = Participant(
            participant_id=f"p-{secrets.token_hex(4)}",
            name=message.name.strip(),
            room=room,
            signaling=signaling,
            pc=RTCPeerConnection(rtc_configuration(self.config.ice_servers)),
            subtitles=message.subtitles,
            language=language,
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

    def _language_of(self, message: Join) -> str | None:
        try:
            return chosen(message.language, self.engine.languages)
        except UnsupportedLanguage as exc:
            raise ProtocolError(ErrorCode.BAD_REQUEST, str(exc), Join.TYPE) from exc

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
