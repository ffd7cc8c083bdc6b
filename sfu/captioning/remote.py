"""Captioning by caption servers that speak Kyutai's streaming-ASR protocol (ASR-PROTOCOL.md):
ours (`livecaptions-captioner`) or Kyutai's `moshi-server`.

Each caption stream gets its own WebSocket, to the first server in turn that admits it (`Ready`);
a server that answers "no free channels", fails to connect or drops the stream is skipped for
`retry_seconds` and the next one is asked. A stream whose server dies is moved to another one and
reports `degraded` until it is served again; a stream no server has room for reports `waiting`
and asks again every `retry_seconds`. Audio waits in a bounded backlog meanwhile (the oldest is
dropped and counted when it is full), so `push` never blocks and the event loop never waits on a
server. Word times come back on the connection's stream clock and are put back on the room clock,
so caption latency stays measured end to end, hop included.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from asr.client import (
    Admitted,
    AsrClientSession,
    ClientEvent,
    FinalWord,
    MarkerBack,
    Progress,
    Refused,
)
from asr.errors import AsrError
from asr.messages import FRAME_SAMPLES, SAMPLE_RATE, Pause, Revise, Tentative, TimedWord
from captioner.engine import Revision, StreamUpdate
from captioner.scheduler import SchedulerStats
from captioner.word_times import in_time_order
from protocol import Word
from sfu.captioning.port import CaptionSink

logger = logging.getLogger(__name__)

EXTENSION_QUERY = "livecaptions=1"  # our opt-in extension (docs/asr-protocol-notes.md)
FLUSH_MARKER = 1  # the Marker id a closing stream waits for


@dataclass(frozen=True, kw_only=True)
class RemoteConfig:
    urls: tuple[str, ...]
    api_key: str | None = None
    retry_seconds: float = 3.0  # a refusing or failed server is skipped this long
    connect_timeout: float = 5.0
    backlog_seconds: float = 10.0  # audio kept while no server serves a stream
    pause_seconds: float = 1.0  # no word for this long ends an utterance (servers without Pause)
    flush_seconds: float = 4.0  # silence sent after a closing stream's audio, at most
    languages: tuple[str, ...] = ("en",)  # unless the servers' /healthz say otherwise
    extensions: bool = True  # ask our servers for tentative words and pauses

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("remote captioning needs at least one caption server URL")
        for url in self.urls:
            if not url.startswith(("ws://", "wss://")):
                raise ValueError(f"caption server URL {url!r} must start with ws:// or wss://")


@dataclass
class _Server:
    url: str
    skip_until: float = 0.0
    failures: int = 0


class RemoteCaptioning:
    """The captioning port over a pool of caption servers."""

    def __init__(self, config: RemoteConfig) -> None:
        self.config = config
        self.engine_name = "asr-streaming"
        self.languages = config.languages
        self._servers = [_Server(url) for url in config.urls]
        self._turn = itertools.count()
        self._streams: dict[str, RemoteStream] = {}
        self._running = False
        self.failures = 0  # connections that failed or dropped

    @property
    def running(self) -> bool:
        return self._running

    async def start(self) -> None:
        self._running = True
        learned = await self._languages_of_servers()
        if learned:
            self.languages = learned

    async def _languages_of_servers(self) -> tuple[str, ...]:
        """What our caption servers say they caption (their /healthz). A Kyutai server, or one
        out of reach now, says nothing, and the configured languages stand."""
        found: set[str] = set()
        async with httpx.AsyncClient(timeout=self.config.connect_timeout) as http:
            for server in self._servers:
                scheme = "https" if server.url.startswith("wss:") else "http"
                url = urlsplit(server.url)._replace(scheme=scheme, path="/healthz", query="")
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    body = (await http.get(url.geturl())).json()
                    if isinstance(body, dict) and isinstance(body.get("languages"), list):
                        found.update(c for c in body["languages"] if isinstance(c, str))
        return tuple(sorted(found))

    async def stop(self) -> None:
        self._running = False
        streams = list(self._streams.values())
        for stream in streams:
            stream.cancel()
        await asyncio.gather(*(s.task for s in streams if s.task), return_exceptions=True)

    def open_stream(self, stream_id: str, start: float, sink: CaptionSink) -> RemoteStream:
        stream = RemoteStream(self, stream_id, start, sink)
        self._streams[stream_id] = stream
        stream.task = asyncio.ensure_future(stream.run())
        stream.task.add_done_callback(lambda _: self._streams.pop(stream_id, None))
        return stream

    def stats(self) -> SchedulerStats:
        streams = self._streams
        return SchedulerStats(
            steps=0,
            step_seconds=(),
            backlog_seconds={k: s.backlog_seconds for k, s in streams.items()},
            dropped_seconds={k: s.dropped_seconds for k, s in streams.items()},
            wait_seconds=0.0,
            failures=self.failures,
        )

    def candidates(self) -> list[_Server]:
        """Servers not being skipped, starting from the next in turn (streams spread out)."""
        now = time.monotonic()
        first = next(self._turn) % len(self._servers)
        ordered = self._servers[first:] + self._servers[:first]
        return [s for s in ordered if s.skip_until <= now]

    def skip(self, server: _Server, failed: bool) -> None:
        server.skip_until = time.monotonic() + self.config.retry_seconds
        if failed:
            server.failures += 1
            self.failures += 1

    def url_of(self, server: _Server, language: str | None = None) -> str:
        """The server's URL, asking for our extension (and the stream's language) when enabled:
        a Kyutai server is asked nothing beyond its protocol."""
        if not self.config.extensions:
            return server.url
        query = EXTENSION_QUERY + (f"&language={language}" if language else "")
        return server.url + ("&" if "?" in server.url else "?") + query


@dataclass
class _Connection:
    """One WebSocket serving the stream: its protocol session and its clock."""

    websocket: ClientConnection
    session: AsrClientSession = field(default_factory=AsrClientSession)
    origin: float | None = None  # room time of the connection's first sample
    last_word_end: float = 0.0  # room time
    pauses: bool = False  # the server sends our Pause messages
    open_words: bool = False  # words since the last end of utterance
    tentative: tuple[Word, ...] = ()  # the last Tentative, on the room clock

    @property
    def sent_until(self) -> float:
        assert self.origin is not None
        return self.origin + self.session.sent / SAMPLE_RATE


class RemoteStream:
    """One caption stream carried by caption servers, moved between them as they come and go."""

    def __init__(
        self, pool: RemoteCaptioning, stream_id: str, start: float, sink: CaptionSink
    ) -> None:
        self.pool = pool
        self.stream_id = stream_id
        self.task: asyncio.Future[None] | None = None
        self._sink = sink
        self._backlog: deque[tuple[float, np.ndarray]] = deque()
        self._samples = 0
        self._audio = asyncio.Event()
        self._closing = False
        self._served_once = False
        self.dropped_seconds = 0.0
        self._waiting = False
        self._degraded = False
        self._wake = asyncio.Event()
        self.language: str | None = None

    # --- the handle (CaptionHandle) --------------------------------------------------------------

    @property
    def waiting(self) -> bool:
        return self._waiting

    @property
    def degraded(self) -> bool:
        return self._degraded

    @property
    def backlog_seconds(self) -> float:
        return self._samples / SAMPLE_RATE

    def push(self, start: float, pcm: np.ndarray) -> None:
        if self._closing:
            return
        self._backlog.append((start, pcm))
        self._samples += len(pcm)
        limit = self.pool.config.backlog_seconds * SAMPLE_RATE
        while self._samples > limit and len(self._backlog) > 1:
            _, dropped = self._backlog.popleft()
            self._samples -= len(dropped)
            self.dropped_seconds += len(dropped) / SAMPLE_RATE
        self._audio.set()

    def set_language(self, language: str | None) -> None:
        """Asked of the next server this stream connects to (our servers only): a server keeps a
        stream's language for the connection's life."""
        self.language = language

    def close(self) -> None:
        self._closing = True
        self._audio.set()
        self._wake.set()

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    # --- the life of the stream ------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while not (self._closing and not self._backlog and self._served_once):
                if await self._try_servers():
                    return
                if self._closing:
                    return  # no server can take its last audio now: do not hold the room open
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.pool.config.retry_seconds)
        finally:
            self._sink.on_finished()

    async def _try_servers(self) -> bool:
        """Ask each server in turn; True once the stream ended on one of them."""
        for server in self.pool.candidates():
            outcome = await self._serve_on(server)
            if outcome == "finished":
                return True
            self.pool.skip(server, failed=outcome == "failed")
            if self._closing and not self._served_once:
                return False
        if self._served_once:
            self._degraded = True
        self._waiting = True
        return False

    async def _serve_on(self, server: _Server) -> str:
        config = self.pool.config
        headers = {"kyutai-api-key": config.api_key} if config.api_key else {}
        try:
            websocket = await connect(
                self.pool.url_of(server, self.language),
                additional_headers=headers,
                open_timeout=config.connect_timeout,
                max_size=1 << 20,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            logger.warning("caption server %s: cannot connect: %s", server.url, exc)
            return "failed"
        connection = _Connection(websocket)
        try:
            return await self._converse(server, connection)
        finally:
            await websocket.close()
            self._flush_events(connection, connection.session.closed())

    async def _converse(self, server: _Server, connection: _Connection) -> str:
        try:
            frame = await asyncio.wait_for(
                connection.websocket.recv(), self.pool.config.connect_timeout
            )
            events = connection.session.receive(frame) if isinstance(frame, bytes) else []
        except (ConnectionClosed, TimeoutError, AsrError) as exc:
            logger.warning("caption server %s: no Ready: %s", server.url, exc)
            return "failed"
        if not any(isinstance(e, Admitted) for e in events):
            message = next((e.message for e in events if isinstance(e, Refused)), "no Ready")
            logger.warning(
                "caption server %s refused stream %s: %s", server.url, self.stream_id, message
            )
            return "refused"
        logger.info("stream %s is captioned by %s", self.stream_id, server.url)
        self._served_once, self._waiting, self._degraded = True, False, False
        self._sink.on_update(
            StreamUpdate(self.stream_id)
        )  # clears words a lost server left tentative
        sender = asyncio.ensure_future(self._send(connection))
        try:
            finished = await self._receive(connection)
        except (ConnectionClosed, AsrError) as exc:
            logger.warning(
                "caption server %s dropped stream %s: %s", server.url, self.stream_id, exc
            )
            finished = False
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender
        return "finished" if finished else "failed"

    async def _send(self, connection: _Connection) -> None:
        websocket, session = connection.websocket, connection.session
        while True:
            while self._backlog:
                start, pcm = self._backlog.popleft()
                self._samples -= len(pcm)
                if connection.origin is None:
                    connection.origin = start
                gap = round((start - connection.sent_until) * SAMPLE_RATE)
                if (
                    0 < gap <= 2 * SAMPLE_RATE
                ):  # a hole in the room's audio: keep the clocks aligned
                    await websocket.send(session.audio(np.zeros(gap, np.float32)))
                await websocket.send(session.audio(pcm))
            if self._closing:
                break
            self._audio.clear()
            await self._audio.wait()
        # Closing: a Marker, then silence at real-time pace until the server has processed it.
        await websocket.send(session.marker(FLUSH_MARKER))
        silence = np.zeros(FRAME_SAMPLES, np.float32)
        frames = round(self.pool.config.flush_seconds * SAMPLE_RATE / FRAME_SAMPLES)
        for _ in range(frames):
            await websocket.send(session.audio(silence))
            await asyncio.sleep(FRAME_SAMPLES / SAMPLE_RATE)
        await websocket.close()

    async def _receive(self, connection: _Connection) -> bool:
        """Turn the server's events into word updates; True when the closing Marker came back."""
        async for frame in connection.websocket:
            if not isinstance(frame, bytes):
                continue
            events = connection.session.receive(frame)
            if self._flush_events(connection, events):
                return True
        return self._closing

    def _flush_events(self, connection: _Connection, events: list[ClientEvent]) -> bool:
        origin = connection.origin or 0.0
        committed: list[Word] = []
        revision: Revision | None = None
        tentative: tuple[Word, ...] | None = None
        end_of_utterance, language, done = False, None, False
        audio_end = 0.0
        for event in events:
            if isinstance(event, FinalWord):
                committed.append(_room_word(event.word, origin))
                connection.last_word_end = committed[-1].end
                connection.open_words = True
            elif isinstance(event, Revise):
                words = tuple(_room_word(w, origin) for w in event.words)
                revision, committed = revised(revision, committed, event.replaces, words)
            elif isinstance(event, Tentative):
                tentative = connection.tentative = tuple(_room_word(w, origin) for w in event.words)
            elif isinstance(event, Pause):
                connection.pauses = True
                end_of_utterance, language = True, event.language
                connection.open_words = False
            elif isinstance(event, Progress):
                audio_end = origin + event.processed
                quiet = audio_end - connection.last_word_end >= self.pool.config.pause_seconds
                if not connection.pauses and connection.open_words and quiet:
                    end_of_utterance, connection.open_words = True, False
            elif isinstance(event, MarkerBack) and event.id == FLUSH_MARKER and self._closing:
                done = True
            elif isinstance(event, Refused):
                raise AsrError(f"server error: {event.message}")
        if committed and tentative is None:  # keep showing what the words did not yet cover
            end = committed[-1].end
            tentative = connection.tentative = tuple(
                w for w in connection.tentative if w.start >= end
            )
        if committed or revision is not None or tentative is not None or end_of_utterance:
            if revision is not None:
                revision = Revision(revision.replaces, in_time_order(revision.words))
            self._sink.on_update(
                StreamUpdate(
                    self.stream_id,
                    revision=revision,
                    committed=in_time_order(committed),  # the server's words, folded: in order
                    tentative=in_time_order(tentative or ()),
                    end_of_utterance=end_of_utterance,
                    language=language,
                    audio_end=audio_end,
                )
            )
        return done


def revised(
    revision: Revision | None, committed: list[Word], replaces: int, words: tuple[Word, ...]
) -> tuple[Revision | None, list[Word]]:
    """One update's revision and committed words, once a `Revise` of the stream's last
    `replaces` words arrived after them: the same change as applying them one after the other.
    (A `Revise` comes with the word it completes — a `Word` still waiting for its `EndWord`.)"""
    if replaces <= len(committed):  # it revises only words of this update
        return revision, [*committed[: len(committed) - replaces], *words]
    reach = replaces - len(committed)  # words before this update's committed ones
    if revision is None:
        return Revision(reach, words), []
    kept = len(revision.words) - reach
    if kept >= 0:  # within what the earlier revision wrote
        return Revision(revision.replaces, (*revision.words[:kept], *words)), []
    return Revision(revision.replaces + reach - len(revision.words), words), []


def _room_word(word: TimedWord, origin: float) -> Word:
    return Word(word.text, origin + word.start_time, origin + word.stop_time, word.confidence)
