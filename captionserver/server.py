"""The caption server: `GET /api/asr-streaming` (ASR-PROTOCOL.md), `/healthz` and `/metrics`.

One WebSocket is one stream. Every stream is a stream of the one `CaptionScheduler`, so one engine
step serves every open stream whatever connection it came on. The protocol itself lives in
`asr.server.AsrServerSession`; this module only pumps frames between sockets, sessions and the
scheduler. The scheduler's thread hands results back with `call_soon_threadsafe`; each connection
has a bounded send queue, and a client that stops reading is closed rather than let it grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from asr.messages import MAX_REVISED_WORDS, Revise, TimedWord
from asr.server import NO_FREE_CHANNELS, AsrServerSession, ServerOptions
from captioner import engines
from captioner.engine import Engine, Revision, StreamUpdate
from captioner.errors import CapacityError
from captioner.service import CaptionService
from protocol import Word

from .config import PATH, CaptionServerConfig
from .progress import ProgressEngine

logger = logging.getLogger(__name__)

API_KEY_HEADER = "kyutai-api-key"
EXTENSION_QUERY = "livecaptions"  # ?livecaptions=1 asks for our extension (asr-protocol-notes.md)
CLOSE_POLICY = 1008  # RFC 6455 §7.4.1: a message that violates the protocol
CLOSE_TRY_AGAIN = 1013  # RFC 6455 registry: try again later (no free channels)


def build_engine(config: CaptionServerConfig) -> Engine:
    return engines.build_engine(config.engine, whisper=config.whisper, kyutai=config.kyutai)


@dataclass
class _Counters:
    accepted: int = 0
    refused: int = 0
    unauthorized: int = 0
    protocol_errors: int = 0
    slow_clients: int = 0


@dataclass
class _Stream:
    """One connection's stream: its session and the frames waiting to be sent."""

    session: AsrServerSession
    outbox: asyncio.Queue[bytes | None]
    gone: bool = False
    overflowed: bool = field(default=False)


class AsrService:
    """Our engines behind Kyutai's streaming-ASR protocol."""

    def __init__(
        self,
        config: CaptionServerConfig,
        *,
        engine_factory: Callable[[CaptionServerConfig], Engine] = build_engine,
    ) -> None:
        self.config = config
        self._engine_factory = engine_factory
        self._engine: ProgressEngine | None = None
        self._service = CaptionService(self._load_engine, config.scheduler)
        self._server: Server | None = None
        self._streams: dict[str, _Stream] = {}
        self._ids = itertools.count(1)
        self.counters = _Counters()

    # --- life ------------------------------------------------------------------------------------

    def _load_engine(self) -> Engine:
        self._engine = ProgressEngine(self._engine_factory(self.config))
        return self._engine

    async def start(self) -> None:
        await self._service.start()
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=self._process_request,
            max_size=4 * self.config.max_frame_bytes,
            ping_interval=self.config.ping_interval,
            ping_timeout=self.config.idle_timeout,
            server_header="livecaptions-captioner",
        )
        logger.info("ASR streaming on ws://%s:%d%s", self.config.host, self.port, PATH)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self._service.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "the server is not started"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"ws://{self.config.host}:{self.port}{PATH}"

    @property
    def capacity(self) -> int | None:
        engine = self._engine.capacity if self._engine is not None else None
        limits = [n for n in (self.config.max_streams, engine) if n is not None]
        return min(limits) if limits else None

    # --- HTTP ------------------------------------------------------------------------------------

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        url = urlsplit(request.path)
        if url.path == PATH:
            if self._authorized(request, parse_qs(url.query)):
                return None
            self.counters.unauthorized += 1
            return _response(HTTPStatus.UNAUTHORIZED, b'{"error": "unknown API key"}', "json")
        if url.path == "/healthz":
            health = self.health()
            ok = health["status"] == "ok"
            status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
            return _response(status, json.dumps(health).encode(), "json")
        if url.path == "/metrics":
            return _response(HTTPStatus.OK, self.render_metrics().encode(), "text")
        return _response(HTTPStatus.NOT_FOUND, b'{"error": "not found"}', "json")

    def _authorized(self, request: Request, query: dict[str, list[str]]) -> bool:
        if not self.config.api_keys:
            return True
        given = [*request.headers.get_all(API_KEY_HEADER), *query.get("auth_id", [])]
        return any(
            hmac.compare_digest(key.encode(), known.encode())
            for key in given
            for known in self.config.api_keys
        )

    def health(self) -> dict[str, object]:
        running = self._service.running
        capacity = self.capacity
        return {
            "status": "ok" if running else "unavailable",
            "engine": self._engine.name if self._engine else None,
            "languages": list(self._engine.languages) if self._engine else [],
            "streams": len(self._streams),
            "capacity": capacity,
            "free": None if capacity is None else max(0, capacity - len(self._streams)),
        }

    def render_metrics(self) -> str:
        stats = self._service.stats()
        steps = sorted(stats.step_seconds) if stats else []
        busy = self._engine.busy_seconds if self._engine is not None else 0.0
        lines = [
            ("livecaptions_captioner_engine_busy_seconds_total", "counter", busy),
            ("livecaptions_captioner_streams", "gauge", len(self._streams)),
            ("livecaptions_captioner_capacity", "gauge", self.capacity or 0),
            ("livecaptions_captioner_streams_accepted_total", "counter", self.counters.accepted),
            ("livecaptions_captioner_streams_refused_total", "counter", self.counters.refused),
            ("livecaptions_captioner_unauthorized_total", "counter", self.counters.unauthorized),
            (
                "livecaptions_captioner_protocol_errors_total",
                "counter",
                self.counters.protocol_errors,
            ),
            ("livecaptions_captioner_slow_clients_total", "counter", self.counters.slow_clients),
            ("livecaptions_captioner_engine_steps_total", "counter", stats.steps if stats else 0),
            (
                "livecaptions_captioner_engine_failures_total",
                "counter",
                stats.failures if stats else 0,
            ),
            (
                "livecaptions_captioner_realtime_factor",
                "gauge",
                stats.realtime_factor if stats else 0,
            ),
            (
                "livecaptions_captioner_step_seconds_p50",
                "gauge",
                steps[len(steps) // 2] if steps else 0,
            ),
        ]
        out = []
        for name, kind, value in lines:
            out += [f"# TYPE {name} {kind}", f"{name} {value}"]
        return "\n".join(out) + "\n"

    # --- one stream ------------------------------------------------------------------------------

    async def _handle(self, websocket: ServerConnection) -> None:
        assert websocket.request is not None
        query = parse_qs(urlsplit(websocket.request.path).query)
        wants = query.get(EXTENSION_QUERY, ["0"])[-1] in ("1", "true")
        options = ServerOptions(extensions=wants, max_frame_bytes=self.config.max_frame_bytes)
        stream_id = f"s{next(self._ids)}"
        stream = _Stream(AsrServerSession(options), asyncio.Queue(self.config.send_queue))
        writer = asyncio.create_task(self._write(websocket, stream))
        try:
            if self._admit(stream_id, stream):
                if wants:
                    self._set_language(stream_id, query.get("language", [""])[-1])
                await self._read(websocket, stream_id, stream)
        finally:
            stream.gone = True
            if stream_id in self._streams:
                self._service.close_stream(stream_id)
            try:
                stream.outbox.put_nowait(None)  # the writer sends what is queued, then ends
            except asyncio.QueueFull:
                writer.cancel()  # a client that does not read gets no more
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            code = CLOSE_TRY_AGAIN if stream.session.error == NO_FREE_CHANNELS else CLOSE_POLICY
            if stream.session.error is not None:
                await websocket.close(code, stream.session.error[:120])
            else:
                await websocket.close()

    def _set_language(self, stream_id: str, language: str) -> None:
        """Our extension's `language` (docs/asr-protocol-notes.md): a code the engine lists is
        used for the stream; anything else leaves the engine to detect it."""
        assert self._engine is not None
        if language in self._engine.languages:
            self._service.set_language(stream_id, language)

    def _admit(self, stream_id: str, stream: _Stream) -> bool:
        capacity = self.capacity
        full = capacity is not None and len(self._streams) >= capacity
        if not full:
            try:
                self._service.open_stream(stream_id, 0.0, _StreamSink(self, stream_id))
            except CapacityError:
                full = True
        if full:
            self.counters.refused += 1
            stream.session.refused()
        else:
            self.counters.accepted += 1
            self._streams[stream_id] = stream
            stream.session.admitted()
        self._flush(stream)
        return not full

    async def _read(self, websocket: ServerConnection, stream_id: str, stream: _Stream) -> None:
        session = stream.session
        while not session.close_requested and not stream.overflowed:
            try:
                frame = await asyncio.wait_for(websocket.recv(), self.config.idle_timeout)
            except (TimeoutError, ConnectionClosed):
                return
            if isinstance(frame, str):
                continue  # ASR-PROTOCOL.md: text frames are ignored
            for audio in session.receive(frame):
                self._service.push(stream_id, audio.start, audio.pcm)
            if session.error is not None:
                self.counters.protocol_errors += 1
                logger.info("stream %s: %s", stream_id, session.error)
            self._flush(stream)

    async def _write(self, websocket: ServerConnection, stream: _Stream) -> None:
        while (frame := await stream.outbox.get()) is not None:
            try:
                await websocket.send(frame)
            except ConnectionClosed:
                return

    def _flush(self, stream: _Stream) -> None:
        for frame in stream.session.data_to_send():
            if stream.outbox.full():
                # A client that does not read its words: close it rather than buffer without end.
                if not stream.overflowed:
                    self.counters.slow_clients += 1
                    logger.warning(
                        "a client left %d frames unread: closing it", stream.outbox.qsize()
                    )
                stream.overflowed = True
                return
            stream.outbox.put_nowait(frame)

    # --- results, on the loop (captioner.service) ------------------------------------------------

    def transcribed(self, stream_id: str, update: StreamUpdate) -> None:
        stream = self._streams.get(stream_id)
        if stream is None or stream.gone:
            return
        stream.session.transcribed(
            committed=tuple(_timed(w) for w in update.committed),
            tentative=tuple(_timed(w) for w in update.tentative),
            revision=_revise(update.revision),
            end_of_utterance=update.end_of_utterance,
            language=update.language,
            audio_end=update.audio_end,
        )
        self._flush(stream)

    def finished(self, stream_id: str) -> None:
        self._streams.pop(stream_id, None)


class _StreamSink:
    """One connection's stream, as the caption service delivers to it."""

    def __init__(self, service: AsrService, stream_id: str) -> None:
        self._service = service
        self._stream_id = stream_id

    def on_update(self, update: StreamUpdate) -> None:
        self._service.transcribed(self._stream_id, update)

    def on_finished(self) -> None:
        self._service.finished(self._stream_id)


def _revise(revision: Revision | None) -> Revise | None:
    limit = MAX_REVISED_WORDS  # a revision reaching back further is dropped, as a closed caption's
    if revision is None or revision.replaces > limit or len(revision.words) > limit:
        return None
    return Revise(revision.replaces, tuple(_timed(w) for w in revision.words))


def _timed(word: Word) -> TimedWord:
    start = max(0.0, word.start)
    return TimedWord(word.text, start, max(start, word.end), word.confidence)


def _response(status: HTTPStatus, body: bytes, kind: str) -> Response:
    content_type = "application/json" if kind == "json" else "text/plain; version=0.0.4"
    headers = Headers(
        {"Content-Type": content_type, "Content-Length": str(len(body)), "Connection": "close"}
    )
    return Response(status.value, status.phrase, headers, body)
