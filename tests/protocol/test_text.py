"""Text from outside: lone surrogates and deep nesting are refused with a precise bad-request."""

import json

import pytest

from protocol import ErrorCode, ProtocolError
from protocol.captions import parse_client_channel_message
from protocol.signaling import parse_client_frame
from protocol.text import MAX_JSON_DEPTH, is_valid_unicode, json_depth


def test_unicode_validity() -> None:
    assert is_valid_unicode("Zoë 日本 🎉")
    assert not is_valid_unicode("evil\ud800")
    assert not is_valid_unicode("\udfff")


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("{}", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[["}', 1),
        ('{"a": "\\"[[[[["}', 1),
        ("[" * 50 + "]" * 50, 50),
    ],
)
def test_json_depth_skips_brackets_in_strings(text: str, depth: int) -> None:
    assert json_depth(text) == depth


def test_a_surrogate_name_is_a_bad_request() -> None:
    frame = '{"type":"join","v":1,"room":"R","name":"evil\\ud800","token":""}'
    with pytest.raises(ProtocolError) as error:
        parse_client_frame(frame)
    assert (error.value.code, error.value.ref) == (ErrorCode.BAD_REQUEST, "join")
    assert "'name' is not valid Unicode" in error.value.message


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 990, 5000])
def test_deep_nesting_is_a_bad_request_on_both_paths(depth: int) -> None:
    frame = "[" * depth + "]" * depth
    for parse in (parse_client_frame, parse_client_channel_message):
        with pytest.raises(ProtocolError, match="nests deeper than 16"):
            parse(frame)


def test_a_surrogate_type_on_the_channel_is_a_bad_request() -> None:
    with pytest.raises(ProtocolError) as error:
        parse_client_channel_message(json.dumps({"type": "fl\ud800ag"}))
    assert error.value.code is ErrorCode.BAD_REQUEST and error.value.ref is None
