"""The protocol's two ends, sans I/O: fed bytes and results, they answer bytes and events."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from asr.client import Admitted, AsrClientSession, FinalWord, MarkerBack, Progress, Refused
from asr.errors import AsrProtocolError, AsrStateError
from asr.messages import (
    FRAME_SAMPLES,
    Audio,
    Marker,
    Revise,
    TimedWord,
    decode_client,
    decode_server,
    encode,
)
from asr.server import AsrServerSession, ServerOptions, ServerState


def pump(server: AsrServerSession, client: AsrClientSession) -> list[object]:
    return [e for frame in server.data_to_send() for e in client.receive(frame)]


def test_a_stream_from_ready_to_marker() -> None:
    server, client = AsrServerSession(), AsrClientSession()
    server.admitted()
    assert pump(server, client) == [Admitted()]
    audio = server.receive(client.audio(np.full(FRAME_SAMPLES * 3, 0.5, np.float32)))
    assert len(audio) == 1 and audio[0].start == 0.0 and len(audio[0].pcm) == FRAME_SAMPLES * 3
    assert server.receive(client.marker(5)) == []
    server.transcribed(committed=(TimedWord("hello", 0.0625, 0.125),), audio_end=0.16)
    events = pump(server, client)
    # The word is final once its EndWord came (times exact in float32, as sent); two steps ran;
    # the marker waits for the third.
    assert events == [FinalWord(TimedWord("hello", 0.0625, 0.125)), Progress(0.08), Progress(0.16)]
    server.transcribed(audio_end=0.24)
    assert pump(server, client)[-1] == MarkerBack(5)


def test_extension_only_when_asked() -> None:
    for asked in (False, True):
        server = AsrServerSession(ServerOptions(extensions=asked))
        server.admitted()
        server.receive(msgpack.packb({"type": "Audio", "pcm": [0.0] * FRAME_SAMPLES}))
        server.transcribed(
            tentative=(TimedWord("maybe", 0.0, 0.05),), end_of_utterance=True, audio_end=0.08
        )
        kinds = [msgpack.unpackb(f)["type"] for f in server.data_to_send()]
        expected = ["Ready", "Tentative", "Pause", "Step"] if asked else ["Ready", "Step"]
        assert kinds == expected


def test_full_server_refuses_and_closes() -> None:
    server, client = AsrServerSession(), AsrClientSession()
    server.refused()
    assert pump(server, client) == [Refused("no free channels")]
    assert server.close_requested
    with pytest.raises(AsrStateError):
        server.admitted()


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        (b"\x91\x01", "MessagePack map"),
        (msgpack.packb({"type": 3}), "string field 'type'"),
        (msgpack.packb({"type": "Audio", "pcm": [float("nan")]}), "NaN"),
        (msgpack.packb({"type": "Audio", "pcm": [[0.1]]}), "array of numbers"),
        (msgpack.packb({"type": "Marker", "id": True}), "Marker.id must be an integer"),
        (msgpack.packb({"type": "Marker", "id": 2**64 - 1}), "64-bit integer"),
    ],
)
def test_bad_frames_close_the_session_with_a_reason(frame: bytes, says: str) -> None:
    server = AsrServerSession()
    server.admitted()
    server.data_to_send()
    assert server.receive(frame) == []
    assert server.state is ServerState.CLOSED and server.error is not None
    assert says in server.error
    (error,) = server.data_to_send()
    assert msgpack.unpackb(error) == {"type": "Error", "message": server.error}


def test_audio_is_bounded_and_clipped() -> None:
    message = decode_client(msgpack.packb({"type": "Audio", "pcm": [2.0, -3.0, 0.5]}))
    assert isinstance(message, Audio)
    assert message.pcm.tolist() == [1.0, -1.0, 0.5]
    with pytest.raises(AsrProtocolError, match="over the limit"):
        decode_client(b"\x00" * 100, max_bytes=10)
    with pytest.raises(AsrProtocolError):
        Audio(np.zeros(24_000 * 11, np.float32))


def test_server_messages_are_validated_too() -> None:
    with pytest.raises(AsrProtocolError, match=r"Word\.start_time"):
        decode_server(msgpack.packb({"type": "Word", "text": "x", "start_time": "soon"}))
    with pytest.raises(AsrProtocolError, match="unknown message type"):
        decode_server(msgpack.packb({"type": "Audio", "pcm": []}))
    assert decode_server(msgpack.packb({"type": "Marker", "id": 3})) == Marker(3)


def test_a_revision_goes_before_the_steps_words_and_only_to_who_asked() -> None:
    for asked in (False, True):
        server = AsrServerSession(ServerOptions(extensions=asked))
        client = AsrClientSession()
        server.admitted()
        server.receive(msgpack.packb({"type": "Audio", "pcm": [0.0] * FRAME_SAMPLES}))
        # Times exact in float32, as they travel.
        revise = Revise(2, (TimedWord("ask", 0.0, 0.015625), TimedWord("not", 0.03125, 0.046875)))
        what = TimedWord("what", 0.0625, 0.078125)
        server.transcribed(revision=revise, committed=(what,), audio_end=0.08)
        events = pump(server, client)
        final = FinalWord(what)
        if asked:
            assert events[1:3] == [revise, final]
        else:
            assert revise not in events and final in events


def test_a_revision_first_ends_the_word_waiting_for_its_end() -> None:
    client = AsrClientSession()
    client.receive(msgpack.packb({"type": "Ready"}))
    assert client.receive(msgpack.packb({"type": "Word", "text": "asked", "start_time": 1.0})) == []
    revise = Revise(1, (TimedWord("ask", 1.0, 1.25),))
    assert client.receive(encode(revise)) == [FinalWord(TimedWord("asked", 1.0, 1.0)), revise]


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"replaces": 0, "words": []}, "between 1 and"),
        ({"replaces": 10_000, "words": []}, "between 1 and"),
        ({"replaces": 1.5, "words": []}, "Revise.replaces must be an integer"),
        ({"replaces": 1, "words": "ask"}, "Revise.words must be an array"),
        ({"replaces": 1, "words": [{"text": "a", "start_time": 2, "stop_time": 1}]}, "stops"),
    ],
)
def test_bad_revisions_are_refused(fields: dict[str, object], says: str) -> None:
    with pytest.raises(AsrProtocolError, match=says):
        decode_server(msgpack.packb({"type": "Revise", **fields}))


def test_word_confidence_crosses_to_clients_of_the_extension_only() -> None:
    for asked in (False, True):
        server, client = AsrServerSession(ServerOptions(extensions=asked)), AsrClientSession()
        server.admitted()
        server.receive(client.audio(np.zeros(FRAME_SAMPLES, np.float32)))
        # Times and confidences exact in float32, as the messages carry them.
        sure, unsure = TimedWord("so", 0.0, 0.0625, 0.5), TimedWord("asked", 0.0625, 0.125, 0.25)
        server.transcribed(committed=(sure,), tentative=(unsure,), audio_end=0.08)
        frames = server.data_to_send()
        word = next(m for m in map(msgpack.unpackb, frames) if m["type"] == "Word")
        assert ("confidence" in word) is asked
        events = [e for frame in frames for e in client.receive(frame)]
        final = next(e for e in events if isinstance(e, FinalWord))
        assert final.word.confidence == (0.5 if asked else None)
        if asked:
            [tentative] = [e for e in events if type(e).__name__ == "Tentative"]
            assert tentative.words == (unsure,)
    with pytest.raises(AsrProtocolError, match="from 0 to 1"):
        decode_server(
            msgpack.packb({"type": "Word", "text": "x", "start_time": 0, "confidence": 2})
        )
