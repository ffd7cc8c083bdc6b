"""Kyutai's streaming-ASR WebSocket protocol (ASR-PROTOCOL.md): typed values, sans-I/O sessions.

`messages` holds the messages and their msgpack encoding; `server` and `client` the two ends'
state machines. Nothing here does I/O or reads a clock: the caption server (`captionserver/`) and
the SFU's remote captioning pump bytes through them.
"""

from .errors import AsrError, AsrProtocolError, AsrStateError
from .messages import (
    Audio,
    EndWord,
    Error,
    Init,
    Marker,
    OggOpus,
    Pause,
    Ready,
    Step,
    Tentative,
    TimedWord,
    Word,
    decode_client,
    decode_server,
    encode,
)

__all__ = [
    "AsrError",
    "AsrProtocolError",
    "AsrStateError",
    "Audio",
    "EndWord",
    "Error",
    "Init",
    "Marker",
    "OggOpus",
    "Pause",
    "Ready",
    "Step",
    "Tentative",
    "TimedWord",
    "Word",
    "decode_client",
    "decode_server",
    "encode",
]
