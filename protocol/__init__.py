"""Protocol v1 (PROTOCOL.md) as typed values: parsing, validation and serialisation, with no I/O.

Everything that crosses a process boundary goes through this package: the server, the reference
client, the tests and the load test all speak it.
"""

from .captions import (
    Caption,
    ChannelMessage,
    Flag,
    Speaker,
    Status,
    StatusState,
    Word,
    parse_client_channel_message,
)
from .errors import ErrorCode, ProtocolError
from .human import CaptionChoice, CaptionSource, CaptionSources, HumanMode, HumanStatus
from .session import CloseCode, ServerSession, SessionState
from .signaling import (
    PROTOCOL_VERSION,
    Answer,
    ClientMessage,
    Encoded,
    ErrorMessage,
    Feature,
    Join,
    Joined,
    Leave,
    MediaState,
    Offer,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantMedia,
    Participants,
    ServerAnswer,
    ServerMessage,
    ServerOffer,
    SubtitlesToggle,
)

__all__ = [
    "PROTOCOL_VERSION",
    "Answer",
    "Caption",
    "CaptionChoice",
    "CaptionSource",
    "CaptionSources",
    "ChannelMessage",
    "ClientMessage",
    "CloseCode",
    "Encoded",
    "ErrorCode",
    "ErrorMessage",
    "Feature",
    "Flag",
    "HumanMode",
    "HumanStatus",
    "Join",
    "Joined",
    "Leave",
    "MediaState",
    "Offer",
    "ParticipantInfo",
    "ParticipantJoined",
    "ParticipantLeft",
    "ParticipantMedia",
    "Participants",
    "ProtocolError",
    "ServerAnswer",
    "ServerMessage",
    "ServerOffer",
    "ServerSession",
    "SessionState",
    "Speaker",
    "Status",
    "StatusState",
    "SubtitlesToggle",
    "Word",
    "parse_client_channel_message",
]
