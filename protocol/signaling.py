"""Signaling frames of protocol v1 (PROTOCOL.md section 1): one JSON object per text frame.

Client → server: join, offer, answer, subtitles, leave; media and view (v1 extensions).
Server → client: joined, answer, offer, participant-joined, participant-left, error;
participant-media and video-sections (v1 extensions, docs/protocol-notes.md "Video");
participants (a v1 extension a client asks for in `join.features`, docs/protocol-notes.md
"Signaling").

`parse_client_frame` turns a raw frame into a validated message or raises ProtocolError with the
code the server must answer with; `parse_server_frame` does the same for clients. `serialize` is
the inverse of both.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Self, TypeVar

from .errors import ErrorCode, ProtocolError
from .fields import Fields, MessageClass, as_object
from .text import check_json_depth, is_valid_unicode

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 64 * 1024
ROOM_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
LANGUAGE_PATTERN = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")
MAX_NAME_CHARS = 64
MAX_TOKEN_CHARS = 4096
MAX_SDP_CHARS = MAX_FRAME_BYTES
FEATURE_PATTERN = re.compile(r"[a-z0-9-]{1,32}")
MAX_FEATURES = 16


class Feature(StrEnum):
    """Extensions of v1 a client asks for in `join.features` (docs/protocol-notes.md): each
    changes what the server sends it, so only a client that names it gets it."""

    PARTICIPANTS = "participants"  # `participants` batches instead of participant-joined/-left


MAX_ID_CHARS = 64  # a participant id as the server makes them, with room to spare
MAX_PINNED = 4  # tiles a `view` may pin: an interpreter or two, a speaker, a slide
MAX_VISIBLE = 25  # tiles on one page of a `view`: a 5x5 grid at most
MAX_VIDEO_SECTIONS = 64  # in a `video-sections`: far above the server's 12 per subscriber


@dataclass(frozen=True)
class ParticipantInfo:
    id: str
    name: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}

    @classmethod
    def from_json(cls, value: Any, ref: str | None) -> ParticipantInfo:
        fields = as_object(value, ref, "participant")
        return cls(id=fields.string("id", min_len=1), name=fields.string("name"))


# --- client → server -------------------------------------------------------------------------


@dataclass(frozen=True)
class Join:
    TYPE: ClassVar[str] = "join"
    room: str
    name: str
    token: str = ""
    subtitles: bool = True
    language: str | None = None
    # Names of extensions the client understands; those this server does not know are ignored
    # (a client may name what a newer server offers), so any well-formed name is kept.
    features: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not ROOM_PATTERN.fullmatch(self.room):
            raise ProtocolError(
                ErrorCode.BAD_REQUEST, "room must be 1-64 characters of [A-Za-z0-9_-]", self.TYPE
            )
        if not 1 <= len(self.name) <= MAX_NAME_CHARS or not self.name.strip():
            raise ProtocolError(
                ErrorCode.BAD_REQUEST, "name must be 1-64 characters, not all blank", self.TYPE
            )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "v": PROTOCOL_VERSION,
            "room": self.room,
            "name": self.name,
            "token": self.token,
            "subtitles": self.subtitles,
        }
        if self.language is not None:
            body["language"] = self.language
        if self.features:
            body["features"] = sorted(self.features)
        return body

    def wants(self, feature: Feature) -> bool:
        return feature.value in self.features

    @classmethod
    def from_fields(cls, f: Fields) -> Join:
        version = f.integer("v")
        if version != PROTOCOL_VERSION:
            raise f.fail(f"unsupported protocol version {version}; this server speaks v1")
        return cls(
            room=f.string("room", min_len=1, max_len=64, pattern=ROOM_PATTERN),
            name=f.string("name", min_len=1, max_len=MAX_NAME_CHARS),
            token=f.string("token", max_len=MAX_TOKEN_CHARS),
            subtitles=f.boolean("subtitles", default=True),
            language=f.optional_string("language", max_len=20, pattern=LANGUAGE_PATTERN),
            features=_features(f),
        )


def _features(f: Fields) -> frozenset[str]:
    """`join.features`: absent or null means none; else an array of at most 16 names."""
    if not f.has("features"):
        return frozenset()
    names = f.array("features")
    if len(names) > MAX_FEATURES:
        raise f.fail(f"field 'features' must have at most {MAX_FEATURES} names")
    for name in names:
        if not isinstance(name, str) or not FEATURE_PATTERN.fullmatch(name):
            raise f.fail(
                f"field 'features' must be an array of names matching {FEATURE_PATTERN.pattern}"
            )
    return frozenset(names)


@dataclass(frozen=True)
class _SdpMessage:
    """A message whose only field is an SDP (offer or answer, in either direction)."""

    TYPE: ClassVar[str]
    sdp: str

    def to_json(self) -> dict[str, Any]:
        return {"sdp": self.sdp}

    @classmethod
    def from_fields(cls, f: Fields) -> Self:
        return cls(sdp=f.string("sdp", min_len=1, max_len=MAX_SDP_CHARS))


class Offer(_SdpMessage):
    TYPE: ClassVar[str] = "offer"


class Answer(_SdpMessage):
    TYPE: ClassVar[str] = "answer"


@dataclass(frozen=True)
class SubtitlesToggle:
    TYPE: ClassVar[str] = "subtitles"
    enabled: bool

    def to_json(self) -> dict[str, Any]:
        return {"enabled": self.enabled}

    @classmethod
    def from_fields(cls, f: Fields) -> SubtitlesToggle:
        return cls(enabled=f.boolean("enabled"))


@dataclass(frozen=True)
class Leave:
    TYPE: ClassVar[str] = "leave"

    def to_json(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_fields(cls, f: Fields) -> Leave:
        return cls()


@dataclass(frozen=True)
class MediaState:
    """Which of its video sources a participant is sending now: camera on/off and screen share
    without renegotiation (the client replaces the track; the sections stay)."""

    TYPE: ClassVar[str] = "media"
    camera: bool
    screen: bool

    def to_json(self) -> dict[str, Any]:
        return {"camera": self.camera, "screen": self.screen}

    @classmethod
    def from_fields(cls, f: Fields) -> MediaState:
        return cls(camera=f.boolean("camera"), screen=f.boolean("screen"))


@dataclass(frozen=True)
class View:
    """Whose cameras a subscriber wants most: the tiles it pinned, then (after the last
    speakers') those on the page of tiles it shows (docs/protocol-notes.md, "Which cameras")."""

    TYPE: ClassVar[str] = "view"
    pinned: tuple[str, ...] = ()
    visible: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for key, ids, most in (
            ("pinned", self.pinned, MAX_PINNED),
            ("visible", self.visible, MAX_VISIBLE),
        ):
            _check_ids(key, ids, most, self.TYPE)

    def to_json(self) -> dict[str, Any]:
        return {"pinned": list(self.pinned), "visible": list(self.visible)}

    @classmethod
    def from_fields(cls, f: Fields) -> View:
        return cls(
            pinned=tuple(_ids(f, "pinned", MAX_PINNED)),
            visible=tuple(_ids(f, "visible", MAX_VISIBLE)),
        )


def _ids(f: Fields, key: str, most: int) -> list[str]:
    """An optional array of participant ids (absent: empty)."""
    if not f.has(key):
        return []
    values = f.array(key)
    if len(values) > most:
        raise f.fail(f"field {key!r} has {len(values)} ids; at most {most}")
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise f.fail(f"field {key!r}[{index}] must be a string (a participant id)")
        if not is_valid_unicode(value):
            raise f.fail(f"field {key!r}[{index}] is not valid Unicode (a lone surrogate)")
    return values


def _check_ids(key: str, ids: tuple[str, ...], most: int, ref: str) -> None:
    if len(ids) > most:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"field {key!r}: at most {most} ids", ref)
    for index, value in enumerate(ids):
        if not 1 <= len(value) <= MAX_ID_CHARS:
            raise ProtocolError(
                ErrorCode.BAD_REQUEST,
                f"field {key!r}[{index}] must be a participant id of 1-{MAX_ID_CHARS} characters",
                ref,
            )
    if len(set(ids)) != len(ids):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"field {key!r} names an id twice", ref)


ClientMessage = Join | Offer | Answer | SubtitlesToggle | Leave | MediaState | View
CLIENT_MESSAGES: dict[str, MessageClass[ClientMessage]] = {
    m.TYPE: m for m in (Join, Offer, Answer, SubtitlesToggle, Leave, MediaState, View)
}


# --- server → client -------------------------------------------------------------------------


@dataclass(frozen=True)
class Joined:
    TYPE: ClassVar[str] = "joined"
    participant: str
    room: str
    participants: tuple[ParticipantInfo, ...]
    clock_origin: float
    engine: str
    languages: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "participant": self.participant,
            "room": self.room,
            "participants": [p.to_json() for p in self.participants],
            "clock_origin": self.clock_origin,
            "engine": self.engine,
            "languages": list(self.languages),
        }

    @classmethod
    def from_fields(cls, f: Fields) -> Joined:
        return cls(
            participant=f.string("participant", min_len=1),
            room=f.string("room", pattern=ROOM_PATTERN),
            participants=tuple(
                ParticipantInfo.from_json(p, cls.TYPE) for p in f.array("participants")
            ),
            clock_origin=f.number("clock_origin"),
            engine=f.string("engine"),
            languages=tuple(_strings(f, "languages")),
        )


class ServerAnswer(_SdpMessage):
    TYPE: ClassVar[str] = "answer"


class ServerOffer(_SdpMessage):
    TYPE: ClassVar[str] = "offer"


@dataclass(frozen=True)
class _ParticipantEvent:
    """Someone joined or left the room."""

    TYPE: ClassVar[str]
    participant: ParticipantInfo

    def to_json(self) -> dict[str, Any]:
        return {"participant": self.participant.to_json()}

    @classmethod
    def from_fields(cls, f: Fields) -> Self:
        return cls(ParticipantInfo.from_json(f.object("participant"), cls.TYPE))


class ParticipantJoined(_ParticipantEvent):
    TYPE: ClassVar[str] = "participant-joined"


class ParticipantLeft(_ParticipantEvent):
    TYPE: ClassVar[str] = "participant-left"


@dataclass(frozen=True)
class Participants:
    """Who joined and who left the room since the client's last presence message (a v1
    extension for clients whose `join.features` names "participants"): one message for many
    `participant-joined`/`participant-left` frames. No id is in both lists; `left` names only
    participants the client was told of, `joined` only ones it was not, each in the order of
    events; so the two lists may be applied in either order."""

    TYPE: ClassVar[str] = "participants"
    joined: tuple[ParticipantInfo, ...] = ()
    left: tuple[ParticipantInfo, ...] = ()

    def __post_init__(self) -> None:
        ids = [p.id for p in (*self.joined, *self.left)]
        if len(set(ids)) != len(ids):
            duplicate = next(i for i in ids if ids.count(i) > 1)
            raise ProtocolError(
                ErrorCode.BAD_REQUEST, f"participant {duplicate!r} is named twice", self.TYPE
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "joined": [p.to_json() for p in self.joined],
            "left": [p.to_json() for p in self.left],
        }

    @classmethod
    def from_fields(cls, f: Fields) -> Participants:
        return cls(joined=_participant_list(f, "joined"), left=_participant_list(f, "left"))


def _participant_list(f: Fields, key: str) -> tuple[ParticipantInfo, ...]:
    """An array of {id, name}; an error names the field and the entry ("joined[3]: …")."""
    people = []
    for index, value in enumerate(f.array(key)):
        try:
            people.append(ParticipantInfo.from_json(value, f.ref))
        except ProtocolError as error:
            raise f.fail(f"{key}[{index}]: {error.message}") from None
    return tuple(people)


@dataclass(frozen=True)
class ParticipantMedia:
    """Another participant's `media` state, relayed as it changes (and once on joining, for each
    participant that has said)."""

    TYPE: ClassVar[str] = "participant-media"
    participant: str
    camera: bool
    screen: bool

    def to_json(self) -> dict[str, Any]:
        return {"participant": self.participant, "camera": self.camera, "screen": self.screen}

    @classmethod
    def from_fields(cls, f: Fields) -> ParticipantMedia:
        return cls(
            participant=f.string("participant", min_len=1),
            camera=f.boolean("camera"),
            screen=f.boolean("screen"),
        )


@dataclass(frozen=True)
class VideoSection:
    """One of the server's video sections and the source it carries now."""

    mid: str
    participant: str
    source: str  # "camera" | "screen"

    def to_json(self) -> dict[str, Any]:
        return {"mid": self.mid, "participant": self.participant, "source": self.source}

    @classmethod
    def from_json(cls, value: Any, ref: str | None) -> VideoSection:
        f = as_object(value, ref, "section")
        source = f.string("source")
        if source not in ("camera", "screen"):
            raise f.fail(f"section source must be 'camera' or 'screen', not {source[:16]!r}")
        return cls(
            mid=f.string("mid", min_len=1, max_len=32),
            participant=f.string("participant", min_len=1, max_len=MAX_ID_CHARS),
            source=source,
        )


@dataclass(frozen=True)
class VideoSections:
    """Which source each of the server's video sections carries now (to a client that sent
    `view`): a section may switch sources without an offer; one not listed carries none."""

    TYPE: ClassVar[str] = "video-sections"
    sections: tuple[VideoSection, ...]

    def to_json(self) -> dict[str, Any]:
        return {"sections": [s.to_json() for s in self.sections]}

    @classmethod
    def from_fields(cls, f: Fields) -> VideoSections:
        values = f.array("sections")
        if len(values) > MAX_VIDEO_SECTIONS:
            raise f.fail(f"at most {MAX_VIDEO_SECTIONS} sections")
        return cls(tuple(VideoSection.from_json(v, cls.TYPE) for v in values))


@dataclass(frozen=True)
class ErrorMessage:
    TYPE: ClassVar[str] = "error"
    code: ErrorCode
    message: str
    ref: str | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code.value, "message": self.message, "ref": self.ref}

    @classmethod
    def from_error(cls, error: ProtocolError) -> ErrorMessage:
        return cls(error.code, error.message, error.ref)

    @classmethod
    def from_fields(cls, f: Fields) -> ErrorMessage:
        code = f.string("code")
        try:
            error_code = ErrorCode(code)
        except ValueError:
            raise f.fail(f"unknown error code {code!r}") from None
        return cls(error_code, f.string("message"), f.optional_string("ref"))


ServerMessage = (
    Joined
    | ServerAnswer
    | ServerOffer
    | ParticipantJoined
    | ParticipantLeft
    | ParticipantMedia
    | Participants
    | VideoSections
    | ErrorMessage
)
SERVER_MESSAGES: dict[str, MessageClass[ServerMessage]] = {
    m.TYPE: m
    for m in (
        Joined,
        ServerAnswer,
        ServerOffer,
        ParticipantJoined,
        ParticipantLeft,
        ParticipantMedia,
        Participants,
        VideoSections,
        ErrorMessage,
    )
}


# --- framing ---------------------------------------------------------------------------------

_Message = TypeVar("_Message")


def _strings(f: Fields, key: str) -> list[str]:
    values = f.array(key)
    if not all(isinstance(v, str) for v in values):
        raise f.fail(f"field {key!r} must be an array of strings")
    return values


def decode_frame(frame: str | bytes, *, max_bytes: int = MAX_FRAME_BYTES) -> tuple[str, Fields]:
    """Check size and JSON shape of one frame; return its type and its fields."""
    if isinstance(frame, str) and not is_valid_unicode(frame):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "frame is not valid Unicode")
    size = len(frame.encode() if isinstance(frame, str) else frame)
    if size > max_bytes:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"frame of {size} bytes exceeds {max_bytes}")
    if isinstance(frame, bytes):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "binary frames are not accepted; send JSON text")
    check_json_depth(frame)
    try:
        obj = json.loads(frame)
    except ValueError as exc:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"frame is not valid JSON: {exc}") from None
    except RecursionError:  # the depth check makes this unreachable; a parser must not crash
        raise ProtocolError(ErrorCode.BAD_REQUEST, "frame nests too deep") from None
    fields = as_object(obj, None, "frame")
    message_type = fields.string("type")
    fields.ref = message_type
    return message_type, fields


def _parse(frame: str | bytes, registry: dict[str, MessageClass[_Message]]) -> _Message:
    message_type, fields = decode_frame(frame)
    message_class = registry.get(message_type)
    if message_class is None:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"unknown message type {message_type!r}", message_type
        )
    return message_class.from_fields(fields)


def parse_client_frame(frame: str | bytes) -> ClientMessage:
    """Parse one client → server frame; raises ProtocolError."""
    return _parse(frame, CLIENT_MESSAGES)


def parse_server_frame(frame: str | bytes) -> ServerMessage:
    """Parse one server → client frame; raises ProtocolError."""
    return _parse(frame, SERVER_MESSAGES)


def serialize(message: ClientMessage | ServerMessage) -> str:
    return json.dumps({"type": message.TYPE, **message.to_json()}, ensure_ascii=False)


@dataclass(frozen=True)
class Encoded:
    """A server message with its frame, serialized once for every connection it goes to (a
    broadcast to a room of 150 encodes it once, not 150 times)."""

    message: ServerMessage
    frame: str

    @classmethod
    def of(cls, message: ServerMessage) -> Encoded:
        return cls(message, serialize(message))
