"""Messages of the `captions` data channel (PROTOCOL.md section 2): `caption` and `status`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from .errors import ErrorCode, ProtocolError
from .fields import Fields, MessageClass, as_object
from .human import (
    MAX_CAPTIONER_NAME,
    CaptionSource,
    CaptionSources,
    HumanStatus,
    check_source,
    enum_field,
)
from .signaling import LANGUAGE_PATTERN, PROTOCOL_VERSION, ROOM_PATTERN, decode_frame

# Word times come from models with 10-20 ms resolution; allow rounding at the segment's edges.
TIME_TOLERANCE = 0.005
# A word whose confidence is below this is likely misheard: the page may underline it, the review
# page highlights it, the quality report counts it. Whisper's word probabilities of misheard
# words sit mostly below it (its streaming policy already waits on words under 0.45).
LOW_CONFIDENCE = 0.5


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float
    # The engine's confidence in the word, 0-1 (Whisper's word probability); None: not known.
    confidence: float | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"word {self.text!r} ends before it starts")
        if self.confidence is not None and not 0.0 <= self.confidence <= 1.0:
            raise ProtocolError(
                ErrorCode.BAD_REQUEST, f"word {self.text!r}: confidence must be from 0 to 1"
            )

    @property
    def uncertain(self) -> bool:
        return self.confidence is not None and self.confidence < LOW_CONFIDENCE

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "text": self.text,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
        }
        if self.confidence is not None:
            body["confidence"] = round(self.confidence, 3)
        return body

    @classmethod
    def from_json(cls, value: Any) -> Word:
        f = as_object(value, Caption.TYPE, "word")
        confidence = f.number("confidence") if f.has("confidence") else None
        return cls(f.string("text"), f.number("start"), f.number("end"), confidence)


@dataclass(frozen=True)
class Speaker:
    id: str
    name: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True)
class Caption:
    """One update of a caption segment. `emitted_at` is stamped when it is sent on a channel."""

    TYPE: ClassVar[str] = "caption"
    room: str
    segment: str
    rev: int
    final: bool
    speaker: Speaker | None
    start: float
    end: float
    text: str
    words: tuple[Word, ...] | None
    language: str | None
    emitted_at: float = 0.0
    # The human-captioner extension (protocol/human.py): who wrote the text.
    source: CaptionSource = CaptionSource.AUTOMATIC
    captioner: str | None = None  # a human caption's captioner, as the room shows them

    def __post_init__(self) -> None:
        def fail(message: str) -> ProtocolError:
            return ProtocolError(ErrorCode.BAD_REQUEST, message, self.TYPE)

        if self.rev < 0:
            raise fail("rev must be >= 0")
        if self.end < self.start:
            raise fail("caption ends before it starts")
        if self.final and self.words is None:
            raise fail("a final caption must carry its words")
        previous: Word | None = None
        for word in self.words or ():
            if word.start < self.start - TIME_TOLERANCE or word.end > self.end + TIME_TOLERANCE:
                raise fail(f"word {word.text!r} lies outside the caption's [start, end]")
            if previous is not None and word.start < previous.start:
                raise fail(f"word {word.text!r} starts before the word before it")
            previous = word
        check_source(self.source, self.captioner, self.TYPE)

    @property
    def human(self) -> bool:
        return self.source is CaptionSource.HUMAN

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "v": PROTOCOL_VERSION,
            "room": self.room,
            "segment": self.segment,
            "rev": self.rev,
            "final": self.final,
            "speaker": self.speaker.to_json() if self.speaker else None,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
        }
        if self.words is not None:
            body["words"] = [w.to_json() for w in self.words]
        body["language"] = self.language
        body["emitted_at"] = self.emitted_at
        if self.human:  # automatic captions stay exactly as PROTOCOL.md shows them
            body["source"] = self.source.value
            if self.captioner is not None:
                body["captioner"] = self.captioner
        return body

    @classmethod
    def from_fields(cls, f: Fields) -> Caption:
        version = f.integer("v")
        if version != PROTOCOL_VERSION:
            raise f.fail(f"unsupported caption version {version}")
        speaker = f.object("speaker", nullable=True)
        speaker_fields = as_object(speaker, cls.TYPE, "speaker") if speaker is not None else None
        words = tuple(Word.from_json(w) for w in f.array("words")) if f.has("words") else None
        if not f.contains("language"):
            raise f.fail("missing field 'language'")
        return cls(
            room=f.string("room", pattern=ROOM_PATTERN),
            segment=f.string("segment", min_len=1),
            rev=f.integer("rev", minimum=0),
            final=f.boolean("final"),
            speaker=(
                Speaker(speaker_fields.string("id"), speaker_fields.string("name"))
                if speaker_fields
                else None
            ),
            start=f.number("start"),
            end=f.number("end"),
            text=f.string("text"),
            words=words,
            language=f.optional_string("language", pattern=LANGUAGE_PATTERN),
            emitted_at=f.number("emitted_at"),
            source=(
                enum_field(f, "source", CaptionSource)
                if f.has("source")
                else CaptionSource.AUTOMATIC
            ),
            captioner=f.optional_string("captioner", min_len=1, max_len=MAX_CAPTIONER_NAME),
        )


class StatusState(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Status:
    TYPE: ClassVar[str] = "status"
    subtitles: bool
    engine: str
    state: StatusState
    human: HumanStatus | None = None  # the human-captioner extension
    # A v1 extension (docs/protocol-notes.md): how far behind speech the room's captions are,
    # in seconds, while the caption service is overloaded and `state` is degraded; else absent.
    delay: float | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "subtitles": self.subtitles,
            "engine": self.engine,
            "state": self.state.value,
        }
        if self.human is not None:
            body["human"] = self.human.to_json()
        if self.delay is not None:
            body["delay"] = round(self.delay, 1)
        return body

    @classmethod
    def from_fields(cls, f: Fields) -> Status:
        state = f.string("state")
        try:
            status_state = StatusState(state)
        except ValueError:
            raise f.fail(f"unknown status state {state!r}") from None
        human = f.object("human") if f.has("human") else None
        delay = f.number("delay") if f.has("delay") else None
        if delay is not None and delay < 0:
            raise f.fail("delay must be >= 0")
        return cls(
            f.boolean("subtitles"),
            f.string("engine"),
            status_state,
            HumanStatus.from_fields(as_object(human, cls.TYPE, "human")) if human else None,
            delay,
        )


ChannelMessage = Caption | Status
CHANNEL_MESSAGES: dict[str, MessageClass[ChannelMessage]] = {
    Caption.TYPE: Caption,
    Status.TYPE: Status,
}


def parse_channel_message(data: str | bytes) -> ChannelMessage:
    """Parse one message received on the `captions` data channel; raises ProtocolError."""
    message_type, fields = decode_frame(data)
    message_class = CHANNEL_MESSAGES.get(message_type)
    if message_class is None:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"unknown channel message {message_type!r}", message_type
        )
    return message_class.from_fields(fields)


@dataclass(frozen=True)
class Flag:
    """Client → server on the `captions` channel (a v1 extension): the participant marks a caption
    as wrong. `segment` is the segment id; absent, the last final caption sent to them."""

    TYPE: ClassVar[str] = "flag"
    segment: str | None = None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"segment": self.segment, "reason": self.reason}

    @classmethod
    def from_fields(cls, f: Fields) -> Flag:
        segment = f.optional_string("segment", min_len=1, max_len=MAX_SEGMENT_ID)
        reason = f.optional_string("reason", max_len=MAX_FLAG_REASON) or ""
        return cls(segment, reason.strip())


MAX_SEGMENT_ID = 200
MAX_FLAG_REASON = 500
ClientChannelMessage = Flag | CaptionSources
CLIENT_CHANNEL_MESSAGES: dict[str, MessageClass[ClientChannelMessage]] = {
    Flag.TYPE: Flag,
    CaptionSources.TYPE: CaptionSources,
}


def parse_client_channel_message(data: str | bytes) -> ClientChannelMessage:
    """Parse one message a participant sent on the `captions` channel; raises ProtocolError."""
    message_type, fields = decode_frame(data)
    message_class = CLIENT_CHANNEL_MESSAGES.get(message_type)
    if message_class is None:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST,
            f"unknown channel message {message_type!r}; clients may send: "
            + ", ".join(CLIENT_CHANNEL_MESSAGES),
            message_type,
        )
    return message_class.from_fields(fields)


def serialize_channel_message(message: ChannelMessage | ClientChannelMessage) -> str:
    return json.dumps({"type": message.TYPE, **message.to_json()}, ensure_ascii=False)
