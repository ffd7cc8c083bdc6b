"""The messages of ASR-PROTOCOL.md, and our opt-in extension (docs/asr-protocol-notes.md).

Each message is one binary WebSocket frame holding one MessagePack map whose string field `type`
names it (serde's internally tagged enum in Kyutai's server). Decoding is strict: a frame that is
not such a map, a `type` the side does not accept, a missing field or a field of the wrong type is
an `AsrProtocolError` whose text says which, so the peer gets a clear `Error` back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, TypeGuard

import msgpack
import numpy as np

from .errors import AsrProtocolError

SAMPLE_RATE = 24_000  # ASR-PROTOCOL.md: Audio is mono PCM at 24 kHz
FRAME_SAMPLES = 1920  # one model step, 80 ms
MAX_FRAME_BYTES = 1 << 20  # a frame past this is refused before it is decoded
MAX_AUDIO_SAMPLES = 10 * SAMPLE_RATE  # one Audio message carries at most 10 s
MAX_TEXT = 1000  # characters of a word or an error message
MAX_MARKER_ID = 2**63 - 1  # Kyutai's ids are i64
MAX_TIME = 1e7  # seconds (115 days): no stream lasts longer, and float32 carries it
FLOAT32_MAX = 3.4028234663852886e38
MAX_REVISED_WORDS = 200  # a Revise reaches back at most this far (Whisper's 30 s window: ~100)


# --- client → server --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Audio:
    TYPE: ClassVar[str] = "Audio"
    pcm: np.ndarray  # float32, mono, 24 kHz, in [-1, 1]

    def __post_init__(self) -> None:
        if self.pcm.ndim != 1 or len(self.pcm) > MAX_AUDIO_SAMPLES:
            raise AsrProtocolError(
                f"Audio.pcm must be one channel of at most {MAX_AUDIO_SAMPLES} samples"
            )

    def to_map(self) -> dict[str, Any]:
        return {"type": self.TYPE, "pcm": self.pcm.astype(np.float32).tolist()}


@dataclass(frozen=True)
class Marker:
    """Client → server: echo me once the audio before me is transcribed; server → client: echo."""

    TYPE: ClassVar[str] = "Marker"
    id: int

    def __post_init__(self) -> None:
        if not -MAX_MARKER_ID <= self.id <= MAX_MARKER_ID:
            raise AsrProtocolError("Marker.id must be a 64-bit integer")

    def to_map(self) -> dict[str, Any]:
        return {"type": self.TYPE, "id": self.id}


@dataclass(frozen=True)
class Init:
    TYPE: ClassVar[str] = "Init"

    def to_map(self) -> dict[str, Any]:
        return {"type": self.TYPE}


@dataclass(frozen=True)
class OggOpus:
    TYPE: ClassVar[str] = "OggOpus"
    data: bytes

    def to_map(self) -> dict[str, Any]:
        return {"type": self.TYPE, "data": self.data}


ClientMessage = Audio | Marker | Init | OggOpus

# --- server → client --------------------------------------------------------------------------


@dataclass(frozen=True)
class Ready:
    TYPE: ClassVar[str] = "Ready"

    def to_map(self) -> dict[str, Any]:
        return {"type": self.TYPE}


@dataclass(frozen=True)
class Word:
    TYPE: ClassVar[str] = "Word"
    text: str
    start_time: float
    # Our extension: the engine's confidence (0-1), sent only to clients that asked for it.
    confidence: float | None = None

    def __post_init__(self) -> None:
        _check_text("Word.text", self.text)
        _check_time("Word.start_time", self.start_time)
        _check_confidence("Word.confidence", self.confidence)

    def to_map(self) -> dict[str, Any]:
        body = {"type": self.TYPE, "text": self.text, "start_time": self.start_time}
        return _with_confidence(body, self.confidence)


@dataclass(frozen=True)
class EndWord:
    TYPE: ClassVar[str] = "EndWord"
    stop_time: float

    def __post_init__(self) -> None:
        _check_time("EndWord.stop_time", self.stop_time)

    def to_map(self) -> dict[str, Any]:
        return {"type": self.TYPE, "stop_time": self.stop_time}


@dataclass(frozen=True)
class Step:
    TYPE: ClassVar[str] = "Step"
    step_idx: int
    prs: tuple[float, ...] = ()
    buffered_pcm: int = 0

    def to_map(self) -> dict[str, Any]:
        return {
            "type": self.TYPE,
            "step_idx": self.step_idx,
            "prs": list(self.prs),
            "buffered_pcm": self.buffered_pcm,
        }


@dataclass(frozen=True)
class Error:
    TYPE: ClassVar[str] = "Error"
    message: str

    def to_map(self) -> dict[str, Any]:
        return {"type": self.TYPE, "message": self.message[:MAX_TEXT]}


# --- our extension: only to clients that asked (see docs/asr-protocol-notes.md) ------------------


@dataclass(frozen=True)
class TimedWord:
    text: str
    start_time: float
    stop_time: float
    confidence: float | None = None  # 0-1; None: the engine gives none

    def __post_init__(self) -> None:
        _check_text("word text", self.text)
        _check_time("start_time", self.start_time)
        _check_time("stop_time", self.stop_time)
        _check_confidence("confidence", self.confidence)
        if self.stop_time < self.start_time:
            raise AsrProtocolError(f"word {self.text!r} stops before it starts")


@dataclass(frozen=True)
class Tentative:
    """The words after the last `Word` as the engine now hears them; they may still change, and
    each `Tentative` replaces the previous one (empty: none)."""

    TYPE: ClassVar[str] = "Tentative"
    words: tuple[TimedWord, ...] = ()

    def to_map(self) -> dict[str, Any]:
        return {"type": self.TYPE, "words": _word_maps(self.words)}


def _word_maps(words: tuple[TimedWord, ...]) -> list[dict[str, Any]]:
    return [
        _with_confidence(
            {"text": w.text, "start_time": w.start_time, "stop_time": w.stop_time}, w.confidence
        )
        for w in words
    ]


def _with_confidence(body: dict[str, Any], confidence: float | None) -> dict[str, Any]:
    if confidence is not None:
        body["confidence"] = confidence
    return body


@dataclass(frozen=True)
class Revise:
    """The last `replaces` words sent as `Word`s are now `words`: a revising engine heard them
    better once it heard what followed. Sent before the step's new `Word`s."""

    TYPE: ClassVar[str] = "Revise"
    replaces: int
    words: tuple[TimedWord, ...]

    def __post_init__(self) -> None:
        if not 0 < self.replaces <= MAX_REVISED_WORDS:
            raise AsrProtocolError(f"Revise.replaces must be between 1 and {MAX_REVISED_WORDS}")
        if len(self.words) > MAX_REVISED_WORDS:
            raise AsrProtocolError(f"Revise.words holds more than {MAX_REVISED_WORDS} words")

    def to_map(self) -> dict[str, Any]:
        return {"type": self.TYPE, "replaces": self.replaces, "words": _word_maps(self.words)}


@dataclass(frozen=True)
class Pause:
    """The speaker paused at `time` (stream seconds): the utterance is over. `language`: the
    language the engine heard in it, when it knows."""

    TYPE: ClassVar[str] = "Pause"
    time: float
    language: str | None = None

    def __post_init__(self) -> None:
        _check_time("Pause.time", self.time)
        if self.language is not None:
            _check_text("Pause.language", self.language)

    def to_map(self) -> dict[str, Any]:
        return {"type": self.TYPE, "time": self.time, "language": self.language}


ServerMessage = Ready | Word | EndWord | Step | Marker | Error | Tentative | Revise | Pause

# --- encoding ---------------------------------------------------------------------------------


def encode(message: ClientMessage | ServerMessage) -> bytes:
    # Floats as 32-bit, as Kyutai's Python client packs them (use_single_float=True).
    packed: bytes = msgpack.packb(message.to_map(), use_single_float=True)
    return packed


def decode_client(frame: bytes, max_bytes: int = MAX_FRAME_BYTES) -> ClientMessage:
    fields = _unpack(frame, max_bytes)
    kind = fields.get("type")
    if kind == Audio.TYPE:
        return Audio(_pcm(fields))
    if kind == Marker.TYPE:
        return Marker(_integer(fields, "Marker", "id"))
    if kind == Init.TYPE:
        return Init()
    if kind == OggOpus.TYPE:
        data = fields.get("data")
        if not isinstance(data, bytes):
            raise AsrProtocolError("OggOpus.data must be bytes")
        return OggOpus(data)
    raise AsrProtocolError(_unknown(kind, "Audio, Marker, Init, OggOpus"))


def decode_server(frame: bytes, max_bytes: int = MAX_FRAME_BYTES) -> ServerMessage:
    fields = _unpack(frame, max_bytes)
    kind = fields.get("type")
    if kind == Ready.TYPE:
        return Ready()
    if kind == Word.TYPE:
        return Word(
            _string(fields, "Word", "text"),
            _number(fields, "Word", "start_time"),
            _optional_number(fields, "Word", "confidence"),
        )
    if kind == EndWord.TYPE:
        return EndWord(_number(fields, "EndWord", "stop_time"))
    if kind == Step.TYPE:
        prs = fields.get("prs", [])
        if not isinstance(prs, list) or not all(
            _is_number(p) and abs(p) <= FLOAT32_MAX for p in prs
        ):
            raise AsrProtocolError("Step.prs must be an array of 32-bit floats")
        return Step(
            _integer(fields, "Step", "step_idx"),
            tuple(float(p) for p in prs),
            _integer(fields, "Step", "buffered_pcm") if "buffered_pcm" in fields else 0,
        )
    if kind == Marker.TYPE:
        return Marker(_integer(fields, "Marker", "id"))
    if kind == Error.TYPE:
        return Error(_string(fields, "Error", "message"))
    if kind == Tentative.TYPE:
        return Tentative(_timed_words(fields, "Tentative"))
    if kind == Revise.TYPE:
        return Revise(_integer(fields, "Revise", "replaces"), _timed_words(fields, "Revise"))
    if kind == Pause.TYPE:
        language = fields.get("language")
        if language is not None and not isinstance(language, str):
            raise AsrProtocolError("Pause.language must be a string or nil")
        return Pause(_number(fields, "Pause", "time"), language)
    raise AsrProtocolError(_unknown(kind, "Ready, Word, EndWord, Step, Marker, Error"))


# --- validation helpers ---------------------------------------------------------------------------


def _unpack(frame: bytes, max_bytes: int) -> dict[str, Any]:
    if len(frame) > max_bytes:
        raise AsrProtocolError(f"frame of {len(frame)} bytes is over the limit of {max_bytes}")
    try:
        value = msgpack.unpackb(
            frame, raw=False, strict_map_key=True, max_array_len=MAX_AUDIO_SAMPLES
        )
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise AsrProtocolError(f"frame is not MessagePack: {exc.__class__.__name__}") from None
    if not isinstance(value, dict):
        raise AsrProtocolError("a message must be a MessagePack map with a string field 'type'")
    if not isinstance(value.get("type"), str):
        raise AsrProtocolError("a message needs a string field 'type'")
    return value


def _unknown(kind: object, accepted: str) -> str:
    return f"unknown message type {str(kind)[:40]!r}; expected one of {accepted}"


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(fields: dict[str, Any], kind: str, name: str) -> float:
    value = fields.get(name)
    if not _is_number(value) or not math.isfinite(value):
        raise AsrProtocolError(f"{kind}.{name} must be a finite number")
    return float(value)


def _optional_number(fields: dict[str, Any], kind: str, name: str) -> float | None:
    return None if fields.get(name) is None else _number(fields, kind, name)


def _integer(fields: dict[str, Any], kind: str, name: str) -> int:
    value = fields.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise AsrProtocolError(f"{kind}.{name} must be an integer")
    return value


def _string(fields: dict[str, Any], kind: str, name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str):
        raise AsrProtocolError(f"{kind}.{name} must be a string")
    return value


def _pcm(fields: dict[str, Any]) -> np.ndarray:
    pcm = fields.get("pcm")
    if not isinstance(pcm, list) or not all(_is_number(x) for x in pcm):
        raise AsrProtocolError("Audio.pcm must be an array of numbers")
    samples = np.asarray(pcm, np.float32)
    if not np.isfinite(samples).all():
        raise AsrProtocolError("Audio.pcm holds a NaN or an infinity")
    return np.clip(samples, -1.0, 1.0)


def _timed_words(fields: dict[str, Any], kind: str) -> tuple[TimedWord, ...]:
    words = fields.get("words")
    if not isinstance(words, list):
        raise AsrProtocolError(f"{kind}.words must be an array")
    out = []
    for word in words:
        if not isinstance(word, dict):
            raise AsrProtocolError(f"{kind}.words must hold maps")
        out.append(
            TimedWord(
                _string(word, f"{kind}.words", "text"),
                _number(word, f"{kind}.words", "start_time"),
                _number(word, f"{kind}.words", "stop_time"),
                _optional_number(word, f"{kind}.words", "confidence"),
            )
        )
    return tuple(out)


def _check_text(name: str, text: str) -> None:
    if len(text) > MAX_TEXT:
        raise AsrProtocolError(f"{name} is longer than {MAX_TEXT} characters")


def _check_confidence(name: str, value: float | None) -> None:
    if value is not None and not 0.0 <= value <= 1.0:  # NaN included
        raise AsrProtocolError(f"{name} must be a number from 0 to 1")


def _check_time(name: str, value: float) -> None:
    if not math.isfinite(value) or not 0 <= value <= MAX_TIME:
        raise AsrProtocolError(f"{name} must be a number of seconds from 0 to {MAX_TIME:g}")


__all__ = [
    "Audio",
    "ClientMessage",
    "EndWord",
    "Error",
    "Init",
    "Marker",
    "OggOpus",
    "Pause",
    "Ready",
    "Revise",
    "ServerMessage",
    "Step",
    "Tentative",
    "TimedWord",
    "Word",
    "decode_client",
    "decode_server",
    "encode",
]
