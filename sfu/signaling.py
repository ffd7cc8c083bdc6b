"""The asyncio side of one signaling WebSocket: it pumps frames into `protocol.ServerSession`,
writes out what the session queues, and dispatches accepted messages to the server."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from protocol import (
    Answer,
    ClientMessage,
    ErrorCode,
    Join,
    Leave,
    Offer,
    ProtocolError,
    ServerAnswer,
    ServerMessage,
    ServerSession,
    SubtitlesToggle,
)
from protocol.sdp import validate_answer, validate_offer
from protocol.session import CloseCode, SessionLimits

if TYPE_CHECKING:
    from .participant import Participant
    from .server import CaptionServer

logger = logging.getLogger(__name__)


class SignalingConnection:
    def __init__(
        self, websocket: ServerConnection, server: CaptionServer, limits: SessionLimits
    ) -> None:
        self.websocket = websocket
        self.server = server
        self.session = ServerSession(limits)
        self.participant: Participant | None = None
        self._outgoing: asyncio.Queue[str | None] = asyncio.Queue()

    # --- what the rest of the server uses --------------------------------------------------------

    def send(self, message: ServerMessage) -> None:
        self.session.send(message)
        self._pump()

    @property
    def can_offer(self) -> bool:
        return self.session.can_offer

    # --- the loop --------------------------------------------------------------------------------

    async def run(self) -> None:
        writer = asyncio.ensure_future(self._write())
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
            if self.participant is not None:
                await self.server.leave(self.participant)
            self._outgoing.put_nowait(None)
            await writer
            code = self.session.close_code or CloseCode.NORMAL
            await self.websocket.close(int(code), self.session.close_reason)

    def _pump(self) -> None:
        for code in self.session.error_codes:
            self.server.metrics.signaling_errors.labels(code.value).inc()
        self.session.error_codes.clear()
        for frame in self.session.data_to_send():
            self._outgoing.put_nowait(frame)

    async def _write(self) -> None:
        while (frame := await self._outgoing.get()) is not None:
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
            error = ProtocolError(
                ErrorCode.INTERNAL, "the server failed to handle this message", message.TYPE
            )
            if isinstance(message, Join):
                self.session.reject_join(error)
            else:
                self.session.reject(error)
        self._pump()

    async def _handle(self, message: ClientMessage) -> None:
        participant = self.participant
        if isinstance(message, Join):
            self.participant = await self.server.join(message, self)
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
        elif isinstance(message, Leave):
            pass  # the session is closed; `run` leaves the room
