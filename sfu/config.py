"""Server configuration: one typed value, passed in; nothing is read from globals."""

from __future__ import annotations

from dataclasses import dataclass, field

from access.config import AccessConfig
from captioner.kyutai.config import KyutaiConfig
from captioner.scheduler import SchedulerConfig
from captioner.whisper.config import WhisperConfig
from captionlog.log import LogConfig
from protocol.session import SessionLimits
from sfu.captioning.stream import CaptionMode
from sfu.cluster.config import ClusterConfig
from sfu.media.speaking import SpeakingConfig
from sfu.rooms.graph import MAX_SUBSCRIBER_VIDEO
from sfu.rooms.language import LanguageDefaults
from sfu.rooms.presence import PresenceConfig
from sfu.web.throttle import ThrottleConfig

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    host: str = LOOPBACK
    port: int = 8080
    # Addresses ICE may use, on both sides: our host candidates and the remote candidates we keep.
    # Empty: every interface (an operator behind a real network, with STUN/TURN configured).
    ice_hosts: tuple[str, ...] = (LOOPBACK,)
    ice_servers: tuple[str, ...] = ()  # STUN/TURN URLs; none by default: no traffic leaves the box
    participant_token: str | None = None  # when set, `join` must carry it
    # Room tokens, room access levels, single sign-on; None: the participant token or nothing.
    access: AccessConfig | None = None
    max_participants: int = 150  # per room (docs/large-rooms.md: what one node carries)
    # Forward only who is speaking (the N loudest, sfu.media.speaking); None: every source.
    speaking: SpeakingConfig | None = field(default_factory=SpeakingConfig)
    # How joins and leaves are batched for participants who ask (the `participants` extension).
    presence: PresenceConfig = field(default_factory=PresenceConfig)
    # Video sources (cameras, screens) forwarded to each participant at most (sfu.rooms.graph).
    max_subscriber_video: int = MAX_SUBSCRIBER_VIDEO
    max_rooms: int = 200
    jitter_prefetch: int = 1  # frames aiortc holds before decoding (its default of 4 adds ~60 ms)
    engine: str = "whisper"  # one of captioner.engines.ENGINES
    whisper: WhisperConfig = field(default_factory=WhisperConfig)
    kyutai: KyutaiConfig = field(default_factory=KyutaiConfig)
    caption_mode: CaptionMode = CaptionMode.MIXED  # rooms' default
    # Rooms whose participants chose no language are captioned in the operator's (the rooms
    # file's rule for the room, else --language) rather than in a detected one.
    languages: LanguageDefaults = field(default_factory=LanguageDefaults)
    per_speaker_rooms: frozenset[str] = frozenset()  # rooms captioned per speaker regardless
    log: LogConfig = field(default_factory=LogConfig)  # the caption log and reviewer access
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    session_limits: SessionLimits = field(default_factory=SessionLimits)
    max_frame_bytes: int = 64 * 1024
    join_throttle: ThrottleConfig = field(default_factory=ThrottleConfig)
    metrics_room_labels: bool = False  # room names on /metrics: they may be confidential
    cluster: ClusterConfig | None = None  # --redis: a node of a cluster; None: alone
    # Caption servers (ASR-PROTOCOL.md) to use instead of the engine in this process.
    captioners: tuple[str, ...] = ()
    captioner_key: str | None = None

    def caption_mode_of(self, room: str) -> CaptionMode:
        return CaptionMode.PER_SPEAKER if room in self.per_speaker_rooms else self.caption_mode

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"
