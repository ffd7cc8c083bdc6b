"""Fakes with real behaviour for the forwarding tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence


class RecordingOutlet:
    """A subscriber's sender that keeps what it sends; `ready` and `accepts` say what it does
    (not started yet; a transport that refuses)."""

    def __init__(self, *, ready: bool = True) -> None:
        self.on_ready: Callable[[], None] | None = None
        self.ready = ready
        self.accepts = True
        self.sent: list[tuple[bytes, int]] = []

    def send(self, payload: bytes, pts: int) -> bool:
        if self.accepts:
            self.sent.append((payload, pts))
        return self.accepts

    @property
    def pts(self) -> list[int]:
        return [pts for _, pts in self.sent]


class RecordingFrameOutlet:
    """A video subscriber's sender that keeps the frames it sends (`ready`, `accepts` as above)."""

    def __init__(self, *, ready: bool = True) -> None:
        self.on_ready: Callable[[], None] | None = None
        self.ready = ready
        self.accepts = True
        self.sent: list[tuple[tuple[bytes, ...], int]] = []

    def send_frame(self, payloads: Sequence[bytes], pts: int) -> bool:
        if self.accepts:
            self.sent.append((tuple(payloads), pts))
        return self.accepts
