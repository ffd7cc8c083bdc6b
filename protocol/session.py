"""The server side of one signaling connection, as a sans-I/O state machine.

Fed raw frames with the time they arrived, it answers with the validated message the application
should act on (or None), and queues the frames to send. It enforces the order rules of PROTOCOL.md
section 1 — join first, one client offer, answers only to a pending server offer, at most one server
offer in flight — rate-limits, and decides when abuse closes the socket with 1008.

    AWAITING_JOIN --join accepted (Joined sent)--> JOINED --leave--> CLOSED
          |                                          |
          +----------- too many errors (1008) -------+--> CLOSED
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

from .errors import ErrorCode, ProtocolError
from .signaling import (
    Answer,
    ClientMessage,
    Encoded,
    ErrorMessage,
    Join,
    Joined,
    Leave,
    Offer,
    ServerMessage,
    ServerOffer,
    parse_client_frame,
    serialize,
)


class SessionState(Enum):
    AWAITING_JOIN = "awaiting-join"
    JOINED = "joined"
    CLOSED = "closed"


class CloseCode(IntEnum):
    """WebSocket close codes the server uses (RFC 6455 section 7.4.1)."""

    NORMAL = 1000
    POLICY_VIOLATION = 1008
    INTERNAL_ERROR = 1011  # the participant's media connection failed: rejoin


@dataclass(frozen=True, kw_only=True)
class SessionLimits:
    """Abuse limits of one connection."""

    max_errors: int = 10  # errors before the socket is closed with 1008
    rate: float = 20.0  # frames per second, sustained
    burst: float = 40.0  # frames accepted at once
    # Bytes queued for a client that does not read; past it the connection is dropped, not
    # buffered (a client spamming bad channel messages while never reading its errors).
    max_send_backlog: int = 512 * 1024
    join_timeout: float = 30.0  # seconds a socket may stay open without a successful join


class ServerSession:
    def __init__(self, limits: SessionLimits | None = None) -> None:
        self.limits = limits or SessionLimits()
        self.state = SessionState.AWAITING_JOIN
        self.close_code: CloseCode | None = None
        self.close_reason = ""
        self.errors = 0
        self.error_codes: list[ErrorCode] = []  # codes of the error frames queued, for metrics
        self._outgoing: list[str] = []
        self._join_pending = False
        self._client_offered = False
        self._server_offer_pending = False
        self._tokens = self.limits.burst
        self._last_time: float | None = None

    # --- input ---------------------------------------------------------------------------------

    def receive(self, frame: str | bytes, now: float) -> ClientMessage | None:
        """Validate one frame. Returns the message to act on, or None when it was answered with
        an error (queued in `data_to_send`) or the session is closed."""
        if self.state is SessionState.CLOSED:
            return None
        try:
            self._take_token(now)
            message = parse_client_frame(frame)
            self._check_order(message)
        except ProtocolError as error:
            self.reject(error)
            return None
        self._apply(message)
        return message

    def _take_token(self, now: float) -> None:
        if self._last_time is not None:
            elapsed = max(0.0, now - self._last_time)
            self._tokens = min(self.limits.burst, self._tokens + elapsed * self.limits.rate)
        self._last_time = now
        if self._tokens < 1.0:
            raise ProtocolError(
                ErrorCode.RATE_LIMITED, f"more than {self.limits.rate:g} frames per second"
            )
        self._tokens -= 1.0

    def _check_order(self, message: ClientMessage) -> None:
        ref = message.TYPE
        if self.state is SessionState.AWAITING_JOIN:
            if not isinstance(message, Join):
                raise ProtocolError(ErrorCode.NOT_JOINED, "send join first", ref)
            if self._join_pending:
                raise ProtocolError(ErrorCode.BAD_REQUEST, "a join is already in progress", ref)
            return
        if isinstance(message, Join):
            raise ProtocolError(ErrorCode.BAD_REQUEST, "already joined", ref)
        if isinstance(message, Offer) and self._client_offered:
            raise ProtocolError(
                ErrorCode.BAD_REQUEST, "after the first offer only the server renegotiates", ref
            )
        if isinstance(message, Answer) and not self._server_offer_pending:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "no server offer is awaiting an answer", ref)

    def _apply(self, message: ClientMessage) -> None:
        if isinstance(message, Join):
            self._join_pending = True
        elif isinstance(message, Offer):
            self._client_offered = True
        elif isinstance(message, Answer):
            self._server_offer_pending = False
        elif isinstance(message, Leave):
            self.close(CloseCode.NORMAL, "leave")

    # --- decisions of the application ------------------------------------------------------------

    def reject(self, error: ProtocolError) -> None:
        """Answer with an `error` frame; too many of them close the socket with 1008."""
        self.errors += 1
        self.error_codes.append(error.code)
        self._outgoing.append(serialize(ErrorMessage.from_error(error)))
        if self.errors >= self.limits.max_errors:
            self.close(CloseCode.POLICY_VIOLATION, "too many invalid frames")

    def reject_join(self, error: ProtocolError) -> None:
        """The application refused a join (room full, bad token): a new join may follow."""
        self._join_pending = False
        self.reject(error)

    def reject_offer(self, error: ProtocolError) -> None:
        """The application refused the client's offer (bad SDP): a corrected offer may follow."""
        self._client_offered = False
        self.reject(error)

    def send(self, message: ServerMessage) -> None:
        if self.state is not SessionState.CLOSED:
            self.send_encoded(Encoded.of(message))

    def send_encoded(self, encoded: Encoded) -> None:
        """`send`, of a message already serialized (once for all its recipients)."""
        if self.state is SessionState.CLOSED:
            return
        message = encoded.message
        if isinstance(message, Joined):
            self._join_pending = False
            self.state = SessionState.JOINED
        elif isinstance(message, ServerOffer):
            if self._server_offer_pending:
                raise RuntimeError("a server offer is already awaiting its answer")
            self._server_offer_pending = True
        self._outgoing.append(encoded.frame)

    @property
    def can_offer(self) -> bool:
        """True when the server may start a renegotiation (no offer of its own in flight)."""
        return (
            self.state is SessionState.JOINED
            and self._client_offered
            and not self._server_offer_pending
        )

    def close(self, code: CloseCode, reason: str) -> None:
        if self.state is not SessionState.CLOSED:
            self.state = SessionState.CLOSED
            self.close_code = code
            self.close_reason = reason

    # --- output --------------------------------------------------------------------------------

    def data_to_send(self) -> list[str]:
        frames, self._outgoing = self._outgoing, []
        return frames
