"""The caption server's configuration: one typed value, passed in."""

from __future__ import annotations

from dataclasses import dataclass, field

from asr.messages import MAX_FRAME_BYTES
from captioner.engines import ENGINES
from captioner.kyutai.config import KyutaiConfig
from captioner.scheduler import SchedulerConfig
from captioner.whisper.config import WhisperConfig

LOOPBACK = "127.0.0.1"
PATH = "/api/asr-streaming"


@dataclass(frozen=True, kw_only=True)
class CaptionServerConfig:
    host: str = LOOPBACK
    port: int = 8090
    engine: str = "whisper"  # one of ENGINES
    whisper: WhisperConfig = field(default_factory=WhisperConfig)
    kyutai: KyutaiConfig = field(default_factory=KyutaiConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    api_keys: frozenset[str] = frozenset()  # empty: no key needed (loopback development only)
    max_streams: int | None = None  # None: the engine's slots (kyutai), unbounded (whisper)
    max_frame_bytes: int = MAX_FRAME_BYTES  # past it: an Error; past 4x it, websockets closes
    ping_interval: float = 10.0  # ASR-PROTOCOL.md: the server pings every 10 s ...
    idle_timeout: float = 120.0  # ... and closes a connection silent this long
    send_queue: int = 2048  # frames waiting for a client that does not read; past it: closed

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; available: {', '.join(ENGINES)}")
        if self.max_streams is not None and self.max_streams < 1:
            raise ValueError("max_streams must be at least 1")
        if any(not key for key in self.api_keys):
            raise ValueError("an API key must not be empty")
