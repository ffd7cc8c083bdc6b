import json

import pytest

from protocol import ErrorCode, Join, Joined, ParticipantInfo, ProtocolError
from protocol.signaling import (
    MAX_FRAME_BYTES,
    ErrorMessage,
    Offer,
    SubtitlesToggle,
    VideoSection,
    VideoSections,
    View,
    parse_client_frame,
    parse_server_frame,
    serialize,
)


def frame(**fields: object) -> str:
    return json.dumps(fields)


def join_frame(**overrides: object) -> str:
    fields = {"type": "join", "v": 1, "room": "standup", "name": "Ada", "token": ""}
    fields.update(overrides)
    return frame(**fields)


def error_of(data: str | bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_client_frame(data)
    return info.value


def test_join_round_trip() -> None:
    message = parse_client_frame(join_frame(subtitles=False, language="fr"))
    assert message == Join("standup", "Ada", "", subtitles=False, language="fr")
    assert parse_client_frame(serialize(message)) == message


def test_join_defaults_subtitles_on() -> None:
    message = parse_client_frame(join_frame())
    assert isinstance(message, Join) and message.subtitles is True and message.language is None


@pytest.mark.parametrize(
    ("data", "code", "ref", "needle"),
    [
        ("not json", ErrorCode.BAD_REQUEST, None, "not valid JSON"),
        ("[1, 2]", ErrorCode.BAD_REQUEST, None, "JSON object"),
        (frame(sdp="x"), ErrorCode.BAD_REQUEST, None, "'type'"),
        (frame(type=3), ErrorCode.BAD_REQUEST, None, "'type' must be a string"),
        (frame(type="dance"), ErrorCode.BAD_REQUEST, "dance", "unknown message type"),
        (join_frame(room="bad room!"), ErrorCode.BAD_REQUEST, "join", "'room'"),
        (join_frame(room=""), ErrorCode.BAD_REQUEST, "join", "'room'"),
        (join_frame(room="r" * 65), ErrorCode.BAD_REQUEST, "join", "'room'"),
        (join_frame(name=""), ErrorCode.BAD_REQUEST, "join", "'name'"),
        (join_frame(name="n" * 65), ErrorCode.BAD_REQUEST, "join", "'name'"),
        (join_frame(name="   "), ErrorCode.BAD_REQUEST, "join", "name"),
        (join_frame(v=2), ErrorCode.BAD_REQUEST, "join", "version"),
        (join_frame(v="1"), ErrorCode.BAD_REQUEST, "join", "'v'"),
        (join_frame(subtitles="yes"), ErrorCode.BAD_REQUEST, "join", "'subtitles'"),
        (join_frame(token=None), ErrorCode.BAD_REQUEST, "join", "'token'"),
        (join_frame(language="english!"), ErrorCode.BAD_REQUEST, "join", "'language'"),
        (join_frame(features="participants"), ErrorCode.BAD_REQUEST, "join", "'features'"),
        (join_frame(features=[True]), ErrorCode.BAD_REQUEST, "join", "'features'"),
        (join_frame(features=["Batch!"]), ErrorCode.BAD_REQUEST, "join", "'features'"),
        (join_frame(features=["a"] * 17), ErrorCode.BAD_REQUEST, "join", "at most 16"),
        (frame(type="offer"), ErrorCode.BAD_REQUEST, "offer", "'sdp'"),
        (frame(type="offer", sdp=""), ErrorCode.BAD_REQUEST, "offer", "'sdp'"),
        (frame(type="subtitles", enabled=1), ErrorCode.BAD_REQUEST, "subtitles", "'enabled'"),
    ],
)
def test_invalid_frames_map_to_codes(
    data: str, code: ErrorCode, ref: str | None, needle: str
) -> None:
    error = error_of(data)
    assert error.code is code
    assert error.ref == ref
    assert needle in error.message


def test_oversized_frame_is_too_large() -> None:
    data = frame(type="offer", sdp="v=0\n" + "a" * MAX_FRAME_BYTES)
    assert error_of(data).code is ErrorCode.TOO_LARGE


def test_size_counts_bytes_not_characters() -> None:
    data = frame(type="offer", sdp="é" * (MAX_FRAME_BYTES // 2))
    assert error_of(data).code is ErrorCode.TOO_LARGE


def test_binary_frame_is_refused() -> None:
    assert error_of(b'{"type": "leave"}').code is ErrorCode.BAD_REQUEST


def test_client_messages_round_trip() -> None:
    for message in (Offer("v=0\r\n"), SubtitlesToggle(False)):
        assert parse_client_frame(serialize(message)) == message


def test_server_messages_round_trip() -> None:
    joined = Joined(
        participant="p-1",
        room="standup",
        participants=(ParticipantInfo("p-2", "Bob"),),
        clock_origin=1795000000.5,
        engine="whisper-tiny.en",
        languages=("en",),
    )
    error = ErrorMessage(ErrorCode.ROOM_FULL, "full", "join")
    for message in (joined, error):
        assert parse_server_frame(serialize(message)) == message
    wire = json.loads(serialize(joined))
    assert wire == {
        "type": "joined",
        "participant": "p-1",
        "room": "standup",
        "participants": [{"id": "p-2", "name": "Bob"}],
        "clock_origin": 1795000000.5,
        "engine": "whisper-tiny.en",
        "languages": ["en"],
    }
    assert json.loads(serialize(error)) == {
        "type": "error",
        "code": "room-full",
        "message": "full",
        "ref": "join",
    }


def test_participant_events_round_trip() -> None:
    from protocol import ParticipantJoined, ParticipantLeft

    for event in (
        ParticipantJoined(ParticipantInfo("p-1", "Ada")),
        ParticipantLeft(ParticipantInfo("p-1", "Ada")),
    ):
        assert parse_server_frame(serialize(event)) == event
    assert json.loads(serialize(ParticipantLeft(ParticipantInfo("p-1", "Ada")))) == {
        "type": "participant-left",
        "participant": {"id": "p-1", "name": "Ada"},
    }


def test_join_features_round_trip_and_unknown_ones_are_kept() -> None:
    from protocol import Feature

    message = parse_client_frame(join_frame(features=["participants", "later-thing"]))
    assert isinstance(message, Join)
    assert message.features == {"participants", "later-thing"}
    assert message.wants(Feature.PARTICIPANTS)
    assert parse_client_frame(serialize(message)) == message
    for absent in (join_frame(), join_frame(features=None), join_frame(features=[])):
        plain = parse_client_frame(absent)
        assert isinstance(plain, Join) and not plain.wants(Feature.PARTICIPANTS)
        assert "features" not in json.loads(serialize(plain))  # as a v1 join without it


def test_participants_round_trip() -> None:
    from protocol import Participants

    message = Participants(
        joined=(ParticipantInfo("p-2", "Bob"), ParticipantInfo("p-3", "Cy")),
        left=(ParticipantInfo("p-1", "Ada"),),
    )
    assert parse_server_frame(serialize(message)) == message
    assert json.loads(serialize(message)) == {
        "type": "participants",
        "joined": [{"id": "p-2", "name": "Bob"}, {"id": "p-3", "name": "Cy"}],
        "left": [{"id": "p-1", "name": "Ada"}],
    }


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"left": []}, "missing field 'joined'"),
        ({"joined": []}, "missing field 'left'"),
        ({"joined": {}, "left": []}, "field 'joined' must be an array"),
        ({"joined": [], "left": [3]}, "left[0]: participant must be a JSON object"),
        ({"joined": [{"id": "p-1", "name": "A"}, {"name": "B"}], "left": []}, "joined[1]: missing"),
        ({"joined": [{"id": "", "name": "A"}], "left": []}, "joined[0]: field 'id'"),
        ({"joined": [{"id": "p-1", "name": 5}], "left": []}, "joined[0]: field 'name'"),
        (
            {"joined": [{"id": "p-1", "name": "A"}], "left": [{"id": "p-1", "name": "A"}]},
            "'p-1' is named twice",
        ),
    ],
)
def test_invalid_participants_say_which_field(fields: dict[str, object], needle: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_server_frame(frame(type="participants", **fields))
    assert info.value.code is ErrorCode.BAD_REQUEST
    assert info.value.ref == "participants"
    assert needle in info.value.message


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ('{"type":"view","pinned":"p-1"}', "field 'pinned' must be an array"),
        ('{"type":"view","pinned":["a","b","c","d","e"]}', "field 'pinned' has 5 ids; at most 4"),
        ('{"type":"view","visible":[1]}', "field 'visible'[0] must be a string"),
        ('{"type":"view","visible":[""]}', "field 'visible'[0] must be a participant id of 1-64"),
        ('{"type":"view","pinned":["a","a"]}', "field 'pinned' names an id twice"),
        ('{"type":"view","visible":["\\ud800"]}', "field 'visible'[0] is not valid Unicode"),
    ],
)
def test_an_invalid_view_is_refused_naming_the_field(frame: str, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame(frame)
    assert caught.value.code is ErrorCode.BAD_REQUEST and caught.value.ref == "view"
    assert message in caught.value.message


def test_a_view_without_fields_is_the_default_and_round_trips() -> None:
    assert parse_client_frame('{"type":"view"}') == View()
    view = View(("p-1",), ("p-2", "p-3"))
    assert parse_client_frame(serialize(view)) == view
    sections = VideoSections((VideoSection("3", "p-1", "camera"),))
    assert parse_server_frame(serialize(sections)) == sections
