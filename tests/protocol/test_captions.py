import json

import pytest

from protocol import Caption, ProtocolError, Speaker, Status, StatusState, Word
from protocol.captions import parse_channel_message, serialize_channel_message


def caption(**overrides: object) -> Caption:
    fields: dict[str, object] = {
        "room": "standup",
        "segment": "s-42",
        "rev": 3,
        "final": True,
        "speaker": Speaker("p-7", "Ada"),
        "start": 12.48,
        "end": 14.16,
        "text": "we shipped",
        "words": (Word("we", 12.48, 12.6), Word("shipped", 12.7, 14.16)),
        "language": "en",
        "emitted_at": 1795000000.123,
    }
    fields.update(overrides)
    return Caption(**fields)  # type: ignore[arg-type]


def test_caption_wire_form_matches_protocol_example() -> None:
    wire = json.loads(serialize_channel_message(caption()))
    assert wire == {
        "type": "caption",
        "v": 1,
        "room": "standup",
        "segment": "s-42",
        "rev": 3,
        "final": True,
        "speaker": {"id": "p-7", "name": "Ada"},
        "start": 12.48,
        "end": 14.16,
        "text": "we shipped",
        "words": [
            {"text": "we", "start": 12.48, "end": 12.6},
            {"text": "shipped", "start": 12.7, "end": 14.16},
        ],
        "language": "en",
        "emitted_at": 1795000000.123,
    }


def test_caption_round_trip_with_null_speaker_and_language() -> None:
    message = caption(speaker=None, language=None, final=False, words=None)
    assert parse_channel_message(serialize_channel_message(message)) == message


def test_final_caption_requires_words() -> None:
    with pytest.raises(ProtocolError, match="final caption must carry its words"):
        caption(words=None)


def test_words_must_lie_within_the_caption() -> None:
    with pytest.raises(ProtocolError, match="outside"):
        caption(words=(Word("late", 15.0, 15.5),))


def test_caption_requires_language_field() -> None:
    wire = json.loads(serialize_channel_message(caption()))
    del wire["language"]
    with pytest.raises(ProtocolError, match="language"):
        parse_channel_message(json.dumps(wire))


def test_negative_rev_is_refused() -> None:
    with pytest.raises(ProtocolError, match="rev"):
        caption(rev=-1)


def test_status_round_trip() -> None:
    status = Status(True, "whisper-tiny.en", StatusState.DEGRADED)
    text = serialize_channel_message(status)
    assert json.loads(text) == {
        "type": "status",
        "subtitles": True,
        "engine": "whisper-tiny.en",
        "state": "degraded",
    }
    assert parse_channel_message(text) == status


def test_unknown_status_state_is_refused() -> None:
    with pytest.raises(ProtocolError, match="state"):
        parse_channel_message(
            '{"type": "status", "subtitles": true, "engine": "x", "state": "meh"}'
        )


def test_flag_is_the_one_client_channel_message() -> None:
    from protocol import Flag, parse_client_channel_message
    from protocol.captions import serialize_channel_message

    flag = Flag("room#1-3", "wrong name")
    assert parse_client_channel_message(serialize_channel_message(flag)) == flag
    assert parse_client_channel_message('{"type": "flag"}') == Flag(None, "")
    for bad, says in [
        ('{"type": "flag", "segment": 3}', "segment"),
        ('{"type": "flag", "segment": ""}', "segment"),
        ('{"type": "flag", "reason": "' + "x" * 501 + '"}', "reason"),
        ('{"type": "caption"}', "clients may send: flag"),
        ("not json", "JSON"),
    ]:
        with pytest.raises(ProtocolError, match=says):
            parse_client_channel_message(bad)
