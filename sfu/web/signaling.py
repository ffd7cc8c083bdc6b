"""The asyncio side of one signaling WebSocket: it pumps frames into `protocol.ServerSession`,
writes out what the session queues, and dispatches accepted messages to the server."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from protocol import (
    Answer,
    ClientMessage,
    Encoded,
    ErrorCode,
    Join,
    Leave,
    MediaState,
    Offer,
    ProtocolError,
    ServerAnswer,
    ServerMessage,
    ServerSession,
    SubtitlesToggle,
    View,
)
from protocol.sdp import validate_answer, validate_offer
from protocol.session import CloseCode, SessionLimits
from sfu.metrics import ServerMetrics
from sfu.rooms.participant import Participant
from sfu.web.throttle import JoinThrottle


class SignalingHost(Protocol):
    """What a signaling connection needs of the server: admission, and the way out."""

    metrics: ServerMetrics
    join_throttle: JoinThrottle

    async def join(self, message: Join, signaling: SignalingConnection) -> Participant: ...

    async def leave(self, participant: Participant) -> None: ...


logger = logging.getLogger(__name__)


class SignalingConnection:
    def __init__(
        self, websocket: ServerConnection, server: SignalingHost, limits: SessionLimits
    ) -> None:
        self.websocket = websocket
        self.server = server
        self.session = ServerSession(limits)
        self.participant: Participant | None = None
        self._outgoing: asyncio.Queue[str | None] = asyncio.Queue()
        self._backlog = 0  # bytes in `_outgoing`, bounded by limits.max_send_backlog
        self.dropped = False  # the client stopped reading and was disconnected
        self._address = _address_of(websocket)
        self._closing: asyncio.Future[None] | None = None

    # --- what the rest of the server uses --------------------------------------------------------

    def send(self, message: ServerMessage) -> None:
        self.session.send(message)
        self._pump()

    def send_encoded(self, encoded: Encoded) -> None:
        self.session.send_encoded(encoded)
        self._pump()

    @property
    def can_offer(self) -> bool:
        return self.session.can_offer

    # --- the loop --------------------------------------------------------------------------------

    async def run(self) -> None:
        writer = asyncio.ensure_future(self._write())
        timer = asyncio.get_running_loop().call_later(
            self.session.limits.join_timeout, self._join_timed_out
        )
        try:
            async for frame in self.websocket:
                message = self.session.receive(frame, time.monotonic())
                self._pump()
                if message is not None:
                    await self._dispatch(message)
                if self.session.close_code is not None:
                    break
        except ConnectionClosed:
            pass
        finally:
            timer.cancel()
            if self.participant is not None:
                try:
                    await self.server.leave(self.participant)
                except Exception:  # the room is closed already (leave's own finally)
                    logger.exception("participant %s: leaving failed", self.participant.id)
            self._outgoing.put_nowait(None)
            await writer
            code = self.session.close_code or CloseCode.NORMAL
            await self.websocket.close(int(code), self.session.close_reason)

    def reject(self, error: ProtocolError) -> None:
        """An error about something that did not come in on this socket (the captions channel):
        answered here, and counted with the socket's other errors, so that abuse closes it."""
        self.session.reject(error)
        self._pump()
        self._close_if_closed()

    def close(self, code: CloseCode, reason: str) -> None:
        self.session.close(code, reason)
        self._close_if_closed()

    def _join_timed_out(self) -> None:
        if self.participant is None and self.session.close_code is None:
            self.session.close(CloseCode.POLICY_VIOLATION, "no join in time")
            self.server.metrics.signaling_errors.labels("join-timeout").inc()
            self._close_if_closed()

    def _close_if_closed(self) -> None:
        """The session closed outside `run`'s loop: close the socket, which ends the loop
        (websockets aborts the connection if the close handshake stalls)."""
        code = self.session.close_code
        if code is not None and self._closing is None:
            self._closing = asyncio.ensure_future(
                self.websocket.close(int(code), self.session.close_reason)
            )

    def _pump(self) -> None:
        for code in self.session.error_codes:
            self.server.metrics.signaling_errors.labels(code.value).inc()
        self.session.error_codes.clear()
        for frame in self.session.data_to_send():
            self._enqueue(frame)

    def _enqueue(self, frame: str) -> None:
        if self.dropped:
            return
        self._backlog += len(frame.encode())
        if self._backlog > self.session.limits.max_send_backlog:
            logger.warning("signaling %s: the client does not read; disconnected", self._address)
            self.server.metrics.signaling_errors.labels("not-reading").inc()
            self._drop()
            return
        self._outgoing.put_nowait(frame)

    def _drop(self) -> None:
        """Cut the connection now: no close handshake with a client that does not read (the
        `async for` in `run` ends, and `run` cleans up as after any disconnection)."""
        self.dropped = True
        transport = self.websocket.transport
        if transport is not None:
            transport.abort()

    async def _write(self) -> None:
        while (frame := await self._outgoing.get()) is not None:
            self._backlog -= len(frame.encode())
            try:
                await self.websocket.send(frame)
            except ConnectionClosed:
                return

    async def _dispatch(self, message: ClientMessage) -> None:
        try:
            await self._handle(message)
        except ProtocolError as error:
            if isinstance(message, Join):
                self.session.reject_join(error)
            elif isinstance(message, Offer):
                self.session.reject_offer(error)
            else:
                self.session.reject(error)
        except Exception:
            logger.exception("failed to handle %s", message.TYPE)
            internal = ProtocolError(
                ErrorCode.INTERNAL, "the server failed to handle this message", message.TYPE
            )
            if isinstance(message, Join):
                self.session.reject_join(internal)
            else:
                self.session.reject(internal)
        self._pump()

    async def _join(self, message: Join) -> Participant:
        """Repeated unauthorized joins from one address are refused for a while, before the
        token is even looked at: guessing it costs time."""
        throttle = self.server.join_throttle
        now = time.monotonic()
        wait = throttle.blocked_for(self._address, now)
        if wait > 0:
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                f"too many failed joins from your address; retry in {math.ceil(wait)} s",
                Join.TYPE,
            )
        try:
            participant = await self.server.join(message, self)
        except ProtocolError as error:
            if error.code is ErrorCode.UNAUTHORIZED:
                throttle.failed(self._address, now)
            raise
        throttle.succeeded(self._address)
        return participant

    async def _handle(self, message: ClientMessage) -> None:
        participant = self.participant
        if isinstance(message, Join):
            self.participant = await self._join(message)
        elif participant is None:
            raise ProtocolError(ErrorCode.NOT_JOINED, "send join first", message.TYPE)
        elif isinstance(message, Offer):
            validate_offer(message.sdp)
            answer = await participant.accept_offer(message.sdp)
            self.send(ServerAnswer(answer))
            participant.spawn(participant.renegotiate())
        elif isinstance(message, Answer):
            validate_answer(message.sdp)
            await participant.accept_answer(message.sdp)
        elif isinstance(message, SubtitlesToggle):
            participant.set_subtitles(message.enabled)
        elif isinstance(message, MediaState):
            participant.set_media(message)
        elif isinstance(message, View):
            participant.set_view(message)
        elif isinstance(message, Leave):
            pass  # the session is closed; `run` leaves the room


def _address_of(websocket: ServerConnection) -> str:
    try:
        return str(websocket.remote_address[0])
    except (TypeError, IndexError, OSError):
        return "unknown"
