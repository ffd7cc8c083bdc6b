"""Property-based fuzzing of every parser that reads what outsiders send.

Each property is the edge's contract: any input gives either a valid value that serialises back to
proper UTF-8, or the package's own error (ProtocolError, BadQuery, BadCredential) — never another
exception, never a string that cannot be encoded. The cases below add up to more than 10,000 per
run (the total is printed at the end of the module); a failure prints the input that broke it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote_from_bytes

import msgpack
import pytest
from aiortc import RTCPeerConnection
from aiortc.sdp import SessionDescription
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from websockets.datastructures import Headers

from asr.errors import AsrProtocolError
from asr.messages import decode_client, decode_server, encode
from captioner.assembler import CaptionAssembler
from captioner.engine import Revision, StreamUpdate
from captioner.word_times import is_in_time_order
from captionlog.corrections import MAX_TEXT, parse_edit
from captionlog.errors import BadQuery
from client.browsers import FIREFOX
from protocol import Caption, ErrorCode, Join, Joined, ProtocolError, ServerSession, Word
from protocol.captions import (
    parse_channel_message,
    parse_client_channel_message,
    serialize_channel_message,
)
from protocol.session import SessionLimits
from protocol.signaling import (
    MAX_PINNED,
    MAX_VISIBLE,
    View,
    parse_client_frame,
    parse_server_frame,
    serialize,
)
from protocol.text import is_valid_unicode
from sfu.media.ice import restrict_host_addresses, rtc_configuration
from sfu.media.video import VideoCounters
from sfu.rooms.graph import ForwardingGraph
from sfu.rooms.participant import Participant, client_sdp
from sfu.web.bodies import MAX_BODY, BodySplitter
from sfu.web.captioner import MAX_LINE, MAX_SEQ, BadLine, parse_line
from sfu.web.review import BadCredential, Query, credential, segment_of
from sfu.web.throttle import JoinThrottle, RateConfig, RateLimiter, ThrottleConfig


def fuzz(cases: int) -> settings:
    """`cases` random inputs; no deadline (a shared CI machine is slow), no example database."""
    return settings(
        max_examples=cases,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --- strategies -------------------------------------------------------------------------------

# Every code point, lone surrogates included: a JSON `\ud800` escape decodes to one.
ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
HOSTILE = st.sampled_from(["\ud800", "\udfff", "\x00", "\u202e", "🎉", "é", "\\", '"', "[", "{"])
TEXT = st.one_of(st.text(ANY_CHAR, max_size=24), st.lists(HOSTILE, max_size=4).map("".join))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=8,
)
VALID: dict[str, dict[str, Any]] = {
    "join": {
        "v": 1,
        "room": "R",
        "name": "Ada",
        "token": "",
        "subtitles": True,
        "language": "en",
        "features": ["participants"],
    },
    "offer": {"sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 96\r\n"},
    "answer": {"sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 96\r\n"},
    "subtitles": {"enabled": False},
    "leave": {},
    "view": {"pinned": ["p-2"], "visible": ["p-3", "p-4"]},
    "video-sections": {"sections": [{"mid": "3", "participant": "p-2", "source": "camera"}]},
    "flag": {"segment": "R#1-0", "reason": "wrong"},
    "caption-sources": {"show": "human"},
    "caption": {
        "v": 1,
        "room": "R",
        "segment": "s-1",
        "rev": 0,
        "final": True,
        "speaker": {"id": "p-1", "name": "Ada"},
        "start": 1.0,
        "end": 2.0,
        "text": "hello",
        "words": [{"text": "hello", "start": 1.0, "end": 2.0, "confidence": 0.4}],
        "language": "en",
        "emitted_at": 1.0,
        "source": "human",
        "captioner": "Cy",
    },
    "status": {
        "subtitles": True,
        "engine": "whisper",
        "state": "ok",
        "human": {"mode": "instead", "active": True, "show": "room"},
    },
    "joined": {
        "participant": "p-1",
        "room": "R",
        "participants": [{"id": "p-2", "name": "Bob"}],
        "clock_origin": 1.0,
        "engine": "whisper",
        "languages": ["en"],
    },
    "participant-joined": {"participant": {"id": "p-2", "name": "Bob"}},
    "participants": {
        "joined": [{"id": "p-2", "name": "Bob"}, {"id": "p-3", "name": "Cy"}],
        "left": [{"id": "p-1", "name": "Ada"}],
    },
    "error": {"code": "bad-request", "message": "m", "ref": None},
}


def mutated(
    draw: st.DrawFn,
    valid: dict[str, dict[str, Any]],
    text: st.SearchStrategy[str],
    values: st.SearchStrategy[Any],
) -> dict[str, Any]:
    """A valid message of any type (or of an unknown one) with some fields dropped, replaced or
    added."""
    kind = draw(st.sampled_from(sorted(valid)) | text)
    body: dict[str, Any] = {"type": kind, **valid.get(kind, {})}
    for key in list(body):
        action = draw(st.sampled_from(["keep", "keep", "keep", "drop", "replace"]))
        if action == "drop":
            del body[key]
        elif action == "replace":
            body[key] = draw(values)
    body.update(draw(st.dictionaries(text, values, max_size=2)))
    return body


@st.composite
def message_objects(draw: st.DrawFn) -> Any:
    """A valid message of any type with some fields dropped, replaced or added."""
    body = mutated(draw, VALID, TEXT, JSON)
    return body if draw(st.integers(0, 9)) else draw(JSON)


@st.composite
def frames(draw: st.DrawFn) -> str | bytes:
    """What a socket or a data channel may carry: JSON-ish text (escaped or raw), noise, bytes,
    deep nesting."""
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(st.binary(max_size=64))
    if choice == 1:
        return draw(st.text(ANY_CHAR, max_size=64))
    if choice == 2:
        depth = draw(st.integers(1, 3000))
        return "[" * depth + "]" * depth
    return json.dumps(draw(message_objects()), ensure_ascii=draw(st.booleans()))


# --- the count of cases run -------------------------------------------------------------------


@pytest.fixture(scope="module")
def cases(request: pytest.FixtureRequest) -> Iterator[Counter[str]]:
    counter: Counter[str] = Counter()
    yield counter
    detail = ", ".join(f"{name} {n}" for name, n in sorted(counter.items()))
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"\nfuzz: {sum(counter.values())} cases ({detail})", flush=True)


def encodable(text: str) -> bool:
    return is_valid_unicode(text)


def parses_or_refuses(parse: Callable[[Any], Any], data: Any, reserialize: Callable[[Any], str]):
    try:
        message = parse(data)
    except ProtocolError as error:
        assert isinstance(error.code, ErrorCode)
        assert encodable(error.message) and (error.ref is None or encodable(error.ref))
        return None
    assert encodable(reserialize(message)), message
    return message


# --- signaling and channel messages -----------------------------------------------------------


@fuzz(2500)
@given(frame=frames())
@example(frame='{"type":"join","v":1,"room":"R","name":"evil\\ud800","token":""}')
@example(frame="[" * 990 + "]" * 990)
@example(frame='{"type":"join","v":1,"room":"R","name":"Eve","token":"\\ud800"}')
def test_client_frames(cases: Counter[str], frame: str | bytes) -> None:
    cases["client-frames"] += 1
    message = parses_or_refuses(parse_client_frame, frame, serialize)
    if message is not None:
        assert parse_client_frame(serialize(message)) == message


@fuzz(1000)
@given(
    pinned=st.lists(st.one_of(TEXT, JSON), max_size=6) | JSON,
    visible=st.lists(st.one_of(TEXT, st.sampled_from(["p-1", "p-2"])), max_size=30) | JSON,
)
def test_view_frames(cases: Counter[str], pinned: Any, visible: Any) -> None:
    """A `view` is valid or refused with a message naming the field; a valid one is bounded."""
    cases["view"] += 1
    frame = json.dumps({"type": "view", "pinned": pinned, "visible": visible})
    try:
        view = parse_client_frame(frame)
    except ProtocolError as error:
        assert error.code is ErrorCode.BAD_REQUEST and error.ref == "view"
        assert (
            "'pinned'" in error.message or "'visible'" in error.message or "JSON" in error.message
        )
        return
    assert isinstance(view, View)
    assert len(view.pinned) <= MAX_PINNED and len(view.visible) <= MAX_VISIBLE
    assert parse_client_frame(serialize(view)) == view


@fuzz(1000)
@given(frame=frames())
def test_server_frames(cases: Counter[str], frame: str | bytes) -> None:
    cases["server-frames"] += 1
    message = parses_or_refuses(parse_server_frame, frame, serialize)
    if message is not None:
        assert parse_server_frame(serialize(message)) == message


@fuzz(1500)
@given(data=frames())
@example(data="[" * 5000 + "]" * 5000)
@example(data='{"type":"fl\\ud800ag"}')
@example(data='{"type":"flag","reason":"bad \\udfff"}')
def test_client_channel_messages(cases: Counter[str], data: str | bytes) -> None:
    cases["channel-client"] += 1
    parses_or_refuses(parse_client_channel_message, data, serialize_channel_message)


@fuzz(1000)
@given(data=frames())
def test_caption_messages(cases: Counter[str], data: str | bytes) -> None:
    cases["channel-captions"] += 1
    parses_or_refuses(parse_channel_message, data, serialize_channel_message)


# Words as engines give them: times anywhere, overlapping, out of order (alignment, revisions).
ENGINE_WORD = st.builds(
    lambda text, start, length: Word(text, start, start + length),
    st.sampled_from(["ask", "not", "what", "you.", "Luna", "discovered"]),
    st.floats(0, 30, allow_nan=False),
    st.floats(0, 2, allow_nan=False),
)
ENGINE_WORDS = st.lists(ENGINE_WORD, max_size=6).map(tuple)
UPDATES = st.lists(
    st.builds(
        lambda committed, tentative, pause, revise, revised: StreamUpdate(
            "s",
            committed,
            tentative,
            pause,
            "en",
            revision=Revision(revise, revised) if revise else None,
        ),
        ENGINE_WORDS,
        ENGINE_WORDS,
        st.booleans(),
        st.integers(0, 3),
        ENGINE_WORDS,
    ),
    max_size=8,
)


@fuzz(500)
@given(updates=UPDATES)
@example(
    updates=[StreamUpdate("s", (Word("Luna", 25.90, 25.90), Word("discovered", 25.86, 26.26)))]
)
def test_captions_carry_words_a_client_can_trust(
    cases: Counter[str], updates: list[StreamUpdate]
) -> None:
    """Whatever times the engine gives, every caption has its words in time order, each within
    the caption and ending before the next starts, and a client parses it back unchanged."""
    cases["caption-word-times"] += 1
    assembler = CaptionAssembler("R", "s", lambda start, end: None)
    captions = [c for u in updates for c in assembler.feed(u)] + assembler.close()
    for caption in captions:
        words = caption.words or ()
        assert is_in_time_order(words)
        assert all(w.start <= w.end for w in words)
        parsed = parse_channel_message(serialize_channel_message(caption))
        assert isinstance(parsed, Caption) and is_in_time_order(parsed.words or ())


@fuzz(500)
@given(
    script=st.lists(st.tuples(frames(), st.floats(0, 2), st.booleans()), max_size=12),
)
def test_session_state_machine(
    cases: Counter[str], script: list[tuple[str | bytes, float, bool]]
) -> None:
    """Whatever a client sends, in whatever rhythm, whether the server accepts its join or not:
    the session never raises, everything it queues is a proper server frame, and abuse ends in a
    1008 close."""
    cases["session"] += 1
    limits = SessionLimits()
    session = ServerSession(limits)
    now = 0.0
    for frame, delta, accept in script:
        now += delta
        message = session.receive(frame, now)
        if isinstance(message, Join):
            if accept:
                session.send(Joined("p-1", message.room, (), now, "fuzz", ("en",)))
            else:
                session.reject_join(ProtocolError(ErrorCode.ROOM_FULL, "full", "join"))
        for out in session.data_to_send():
            assert encodable(out)
            parse_server_frame(out)
    assert session.errors <= limits.max_errors
    if session.errors == limits.max_errors:
        assert session.close_code == 1008


# --- ASR frames (ASR-PROTOCOL.md and our extension), both directions ---------------------------

PACKABLE_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
MSGPACK = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | PACKABLE_TEXT
    | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(PACKABLE_TEXT, inner, max_size=4),
    max_leaves=8,
)
WORDS = [{"text": "ask", "start_time": 0.5, "stop_time": 0.75}]
ASR_VALID: dict[str, dict[str, Any]] = {
    "Audio": {"pcm": [0.0, 0.5, -1.0]},
    "Marker": {"id": 7},
    "Init": {},
    "OggOpus": {"data": b"OggS"},
    "Ready": {},
    "Word": {"text": "ask", "start_time": 0.5},
    "EndWord": {"stop_time": 0.75},
    "Step": {"step_idx": 3, "prs": [0.5], "buffered_pcm": 0},
    "Error": {"message": "no free channels"},
    "Tentative": {"words": WORDS},
    "Revise": {"replaces": 2, "words": WORDS},
    "Pause": {"time": 1.0, "language": "fr"},
}


@st.composite
def asr_frames(draw: st.DrawFn) -> bytes:
    """A valid message of any type with fields dropped, replaced or added; or noise, or a
    string that is not UTF-8."""
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(st.binary(max_size=64))
    if choice == 1:  # a str whose bytes are not UTF-8, in a valid-looking message
        return b"\x82\xa4type\xa4Word\xa4text\xa2\xff\xfe"
    body = mutated(draw, ASR_VALID, PACKABLE_TEXT, MSGPACK)
    packed: bytes = msgpack.packb(body if choice > 2 else draw(MSGPACK))
    return packed


@fuzz(1500)
@given(frame=asr_frames())
@example(frame=msgpack.packb({"type": "Revise", "replaces": 2**40, "words": WORDS}))
@example(frame=msgpack.packb({"type": "Word", "text": "x", "start_time": 1e39}))
def test_asr_frames(cases: Counter[str], frame: bytes) -> None:
    cases["asr-frames"] += 1
    for decode in (decode_client, decode_server):
        try:
            message = decode(frame)
        except AsrProtocolError as error:
            assert encodable(str(error))
            continue
        # What was accepted travels again: float32 rounding once, then stable.
        again = decode(encode(message))
        assert type(again) is type(message)
        if decode is decode_server:
            assert decode(encode(again)) == again


# --- SDP ----------------------------------------------------------------------------------------

SDP_TOKENS = st.one_of(
    st.sampled_from(["zz", "0", "1", "-1", "99999", "", "opus/48000", "\ud800", "*", "::"]),
    st.text(ANY_CHAR, max_size=12),
)


@st.composite
def mutated_sdp(draw: st.DrawFn, base: str) -> str:
    """`base` with a few lines dropped, doubled, swapped, edited or invented."""
    lines = base.split("\r\n")
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "double", "swap", "edit", "insert", "mid"]))
        if op == "drop" and len(lines) > 1:
            del lines[i]
        elif op == "double":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "edit":
            parts = lines[i].split(" ")
            parts[draw(st.integers(0, len(parts) - 1))] = draw(SDP_TOKENS)
            lines[i] = " ".join(parts)
        elif op == "insert":
            lines.insert(i, draw(st.sampled_from("vomacbtrsa")) + "=" + draw(SDP_TOKENS))
        else:
            lines = [("a=mid:" + draw(SDP_TOKENS)) if x.startswith("a=mid:") else x for x in lines]
    return "\r\n".join(lines)


async def _real_offer(video: int = 0) -> str:
    restrict_host_addresses(["127.0.0.1"])
    pc = RTCPeerConnection(rtc_configuration())
    pc.addTransceiver("audio", direction="sendrecv")
    for _ in range(video):  # a camera, then a screen (docs/protocol-notes.md, "Video")
        pc.addTransceiver("video", direction="sendonly")
    pc.createDataChannel("captions")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda _loop, context: failures.append(context))
    yield loop
    loop.close()


# What the loop reported as unhandled (e.g. an aiortc task that failed in the background).
failures: list[dict[str, Any]] = []


@pytest.fixture(scope="module")
def real_offer(loop: asyncio.AbstractEventLoop) -> str:
    return loop.run_until_complete(_real_offer())


@pytest.fixture(scope="module")
def video_offer(loop: asyncio.AbstractEventLoop) -> str:
    """An offer with a camera and a screen section: the SDP surface video adds."""
    return loop.run_until_complete(_real_offer(video=2))


@fuzz(1500)
@given(data=st.data())
def test_sdp_checks_and_aiortc_parser(
    cases: Counter[str], real_offer: str, video_offer: str, data: Any
) -> None:
    """Our checks refuse with bad-request only; what they let through reaches aiortc's parser,
    whose every failure becomes bad-request too (`client_sdp`)."""
    from protocol.bundle import with_bundle_transport
    from protocol.jsep import Negotiated, sections, violations
    from protocol.sdp import keep_candidates, validate_answer, validate_offer

    sdp = data.draw(
        st.one_of(
            mutated_sdp(real_offer),
            mutated_sdp(FIREFOX.offer(real_offer)),  # session-level fingerprint, Opus as 109
            mutated_sdp(video_offer),
            mutated_sdp(FIREFOX.offer(video_offer)),
            st.text(ANY_CHAR, max_size=200),
        )
    )
    cases["sdp"] += 1
    keep_candidates(sdp, ["127.0.0.1"])
    # One description of each BUNDLE group's transport: never fails, and a second pass is a no-op.
    bundled = with_bundle_transport(sdp)
    assert with_bundle_transport(bundled) == bundled
    # What later offers keep of a negotiation never fails on any SDP, and keeps what it applied;
    # an answer is refused only as bad-request.
    negotiated = Negotiated.from_exchange(real_offer, sdp)
    assert violations(sections(sdp), negotiated.apply(sdp)) == []
    try:
        Negotiated.from_exchange(real_offer, real_offer.replace("actpass", "active")).check_answer(
            sdp
        )
    except ProtocolError as error:
        assert error.code is ErrorCode.BAD_REQUEST and encodable(error.message)
    for check in (validate_offer, validate_answer):
        try:
            check(sdp)
        except ProtocolError as error:
            assert error.code is ErrorCode.BAD_REQUEST
            continue
        try:
            with client_sdp(check.__name__):
                SessionDescription.parse(sdp)
        except ProtocolError as error:
            assert error.code is ErrorCode.BAD_REQUEST and encodable(error.message)


class _Room:
    """What a participant asks of its room while negotiating: nothing that matters here but a
    forwarding graph, with nobody else in it."""

    engine_name = "fuzz"
    state = None

    def __init__(self) -> None:
        self.forwarding = ForwardingGraph()
        self.video = VideoCounters()

    def on_audio(self, participant_id: str, pcm: object) -> None:
        pass

    def flush_presence_for(self, participant: object) -> None:
        pass


class _Signaling:
    can_offer = False

    def send(self, message: object) -> None:
        pass

    def send_encoded(self, encoded: object) -> None:
        pass

    def reject(self, error: ProtocolError) -> None:
        pass

    def close(self, code: int, reason: str) -> None:
        pass


@fuzz(150)
@given(data=st.data())
def test_offers_through_aiortc_never_break_a_participant(
    cases: Counter[str],
    loop: asyncio.AbstractEventLoop,
    real_offer: str,
    video_offer: str,
    data: Any,
) -> None:
    """The server's own sequence on a mutated offer (check, apply, answer, close): it answers or
    refuses with bad-request, and closing the participant never raises (the `a=mid:zz` offer
    once made aiortc's close raise and leaked the room)."""
    from protocol.sdp import validate_offer

    sdp = data.draw(
        st.one_of(
            st.just(real_offer.replace("a=mid:0", "a=mid:zz", 1)),
            mutated_sdp(real_offer),
            mutated_sdp(FIREFOX.offer(real_offer)),
            mutated_sdp(video_offer),
        )
    )
    cases["aiortc-offers"] += 1

    async def negotiate() -> None:
        participant = Participant(
            participant_id="p-fuzz",
            name="fuzz",
            room=_Room(),  # type: ignore[arg-type]
            signaling=_Signaling(),
            pc=RTCPeerConnection(rtc_configuration()),
            subtitles=False,
            language=None,
            ice_hosts=("127.0.0.1",),
            jitter_prefetch=1,
        )
        try:
            validate_offer(sdp)
            answer = await participant.accept_offer(sdp)
            assert answer.startswith("v=0")
        except ProtocolError as error:
            assert error.code is ErrorCode.BAD_REQUEST
        finally:
            await participant.close()

    failures.clear()
    loop.run_until_complete(asyncio.wait_for(negotiate(), 30))
    loop.run_until_complete(asyncio.sleep(0))  # let aiortc's background tasks run and fail
    import gc

    gc.collect()  # a failed task's exception is reported when the task is collected
    assert failures == [], failures


# --- HTTP: the review API's query strings and credentials --------------------------------------

QUERY_NAMES = st.sampled_from(["limit", "offset", "room", "from", "to", "q", "x", ""])
QUERY_VALUES = st.one_of(
    st.binary(max_size=12).map(lambda b: quote_from_bytes(b, safe="")),
    st.sampled_from(["%C2%B2", "%ED%A0%80", "%FF", "12", "-1", "2026-09-21", "0x10", "1e3"]),
    st.text(ANY_CHAR, max_size=12),
)


@fuzz(1500)
@given(
    pairs=st.lists(st.tuples(QUERY_NAMES, QUERY_VALUES), max_size=6),
    raw=st.text(ANY_CHAR, max_size=40),
    use_raw=st.booleans(),
)
@example(pairs=[("limit", "%C2%B2")], raw="", use_raw=False)
def test_review_query_strings(
    cases: Counter[str], pairs: list[tuple[str, str]], raw: str, use_raw: bool
) -> None:
    cases["http-query"] += 1
    text = raw if use_raw else "&".join(f"{k}={v}" for k, v in pairs)
    try:
        query = Query(text)
        limit = query.integer("limit", 100, 1, 500)
        assert isinstance(limit, int) and 1 <= limit <= 500
        room = query.room()
        assert room is None or encodable(room)
        for name, end in (("from", False), ("to", True)):
            day = query.date(name, end=end)
            assert day is None or isinstance(day, int | float)
        assert encodable(query.text("q"))
    except BadQuery as error:
        assert encodable(str(error))


# websockets reads header values as ISO-8859-1, after refusing control characters.
HEADER_TEXT = st.lists(st.integers(0x20, 0xFF).filter(lambda b: b != 0x7F), max_size=24).map(
    lambda b: bytes(b).decode("iso-8859-1").strip()
)
AUTH_VALUES = st.one_of(
    HEADER_TEXT.map(lambda t: "Bearer " + t),
    st.binary(max_size=24).map(lambda b: "Basic " + base64.b64encode(b).decode()),
    HEADER_TEXT,
)


@fuzz(1500)
@given(values=st.lists(AUTH_VALUES, max_size=3))
@example(values=["Bearer a", "Bearer b"])
@example(values=["Bearer s3cr\xc3\xa9t"])
def test_authorization_headers(cases: Counter[str], values: list[str]) -> None:
    cases["http-authorization"] += 1
    headers = Headers()
    for value in values:
        headers["Authorization"] = value  # appends: several headers of one name
    try:
        token = credential(headers)
    except BadCredential as error:
        assert len(values) > 1 or not values[0].isascii(), error
        return
    assert (token is None) == (not values)
    assert token is None or encodable(token)


@fuzz(500)
@given(events=st.lists(st.tuples(st.sampled_from("abcd"), st.booleans(), st.floats(0, 30))))
def test_join_throttle(cases: Counter[str], events: list[tuple[str, bool, float]]) -> None:
    """Whatever the sequence of joins, waits stay within [0, max] and the table within bounds."""
    cases["throttle"] += 1
    config = ThrottleConfig(free_failures=1, max_seconds=8.0, max_addresses=3)
    throttle = JoinThrottle(config)
    now = 0.0
    for address, ok, delta in events:
        now += delta
        assert 0.0 <= throttle.blocked_for(address, now) <= config.max_seconds
        if ok:
            throttle.succeeded(address)
        else:
            throttle.failed(address, now)
        assert len(throttle) <= config.max_addresses


# --- people's text: corrections and captioners' lines ------------------------------------------

PEOPLE_VALID = {
    "edit": {"text": "The budget was approved.", "rev": 0, "speaker": "Ada", "note": "tense"},
    "line": {"seq": 4, "text": "Good morning.", "language": "fr-CA"},
}
PEOPLE_VALUES = st.one_of(
    JSON, TEXT, st.integers(-1, 2**60), st.sampled_from([2**53, 2**31, "x" * 501, " \t\n"])
)


@st.composite
def people_bodies(draw: st.DrawFn) -> bytes:
    """A correction's or a line's body as a client may send it: mutated JSON, or any bytes."""
    if not draw(st.integers(0, 5)):
        return draw(st.binary(max_size=64))
    body = mutated(draw, PEOPLE_VALID, TEXT, PEOPLE_VALUES)
    body.pop("type", None)
    text = json.dumps(body, ensure_ascii=draw(st.booleans()))
    return text.encode("utf-8", "surrogatepass")


def clean(text: str, limit: int) -> bool:
    """Text as it is kept: proper Unicode, no control character, trimmed, within `limit`."""
    return (
        encodable(text)
        and len(text) <= limit
        and text == text.strip()
        and not any(c < " " or "\x7f" <= c <= "\x9f" for c in text)
    )


@fuzz(1000)
@given(body=people_bodies())
@example(body=b'{"text": "\\ud800", "rev": 0}')
@example(body=b'{"text": "a\\u0085b", "rev": 0}')
def test_correction_bodies(cases: Counter[str], body: bytes) -> None:
    cases["http-corrections"] += 1
    try:
        edit = parse_edit(body)
    except BadQuery as error:
        assert encodable(str(error))
        return
    assert clean(edit.text, MAX_TEXT) and 0 <= edit.rev < 2**31
    assert edit.speaker is None or (edit.speaker and clean(edit.speaker, 64))
    assert encodable(edit.note)


@fuzz(1000)
@given(
    body=people_bodies(),
    content_type=st.sampled_from(["application/json", "text/plain; charset=utf-8", "", "x/y"]),
    query=st.dictionaries(st.sampled_from(["seq", "lang", "token"]), TEXT, max_size=3),
)
@example(body=b"hello", content_type="text/plain", query={"seq": "\u00b2"})
def test_captioner_lines(
    cases: Counter[str], body: bytes, content_type: str, query: dict[str, str]
) -> None:
    cases["http-captioner"] += 1
    try:
        line = parse_line(body, content_type, query)
    except BadLine as error:
        assert encodable(str(error))
        return
    assert clean(line.text, MAX_LINE) and line.text and 0 <= line.seq <= MAX_SEQ
    assert line.language is None or line.language.isascii()


@fuzz(1500)
@given(raw=st.text(ANY_CHAR, max_size=40) | st.sampled_from(["%ED%A0%80", "%FF", "a%23b"]))
def test_segment_ids_in_paths(cases: Counter[str], raw: str) -> None:
    cases["http-segment"] += 1
    try:
        segment = segment_of(raw)
    except BadQuery as error:
        assert encodable(str(error))
        return
    assert encodable(segment) and 1 <= len(segment) <= 200


REQUEST_HEADS = st.sampled_from(
    [
        b"PATCH /api/x HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
        b"POST /a HTTP/1.1\r\ncontent-length:%d\r\nExpect: 100-continue\r\n\r\n",
        b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
        b"PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST /a HTTP/1.1\r\nContent-Length: -4\r\n\r\n",
    ]
)


@fuzz(1500)
@given(
    head=REQUEST_HEADS,
    body=st.binary(max_size=300),
    cuts=st.lists(st.integers(0, 400), max_size=6),
    noise=st.binary(max_size=64),
)
def test_request_bodies_whatever_their_framing_and_packets(
    cases: Counter[str], head: bytes, body: bytes, cuts: list[int], noise: bytes
) -> None:
    """However the bytes arrive, the splitter keeps exactly the announced body (or refuses it),
    and websockets gets a head without framing headers, or everything untouched."""
    cases["http-bodies"] += 1
    raw = (head.replace(b"%d", str(len(body)).encode()) if b"%d" in head else head) + body + noise
    splitter = BodySplitter(max_body=200)
    passed = b""
    for start, end in zip([0, *sorted(cuts)], [*sorted(cuts), len(raw)], strict=True):
        passed += splitter.feed(raw[start:end])
    if b"%d" in head and 0 < len(body) <= 200:  # Content-Length: 0 is for websockets to read
        assert splitter.body == body and splitter.error is None
        assert passed.endswith(b"\r\n\r\n") and b"ength" not in passed
    elif splitter.error is not None:
        assert splitter.body is None and b"ength" not in passed
    else:
        assert passed == raw and len(raw) <= len(head) + MAX_BODY + 64


@fuzz(500)
@given(events=st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 3)), max_size=60))
def test_rate_limits(cases: Counter[str], events: list[tuple[str, float]]) -> None:
    """No key gets more than its burst plus its rate over any run; waits are short."""
    cases["rate-limits"] += 1
    config = RateConfig(rate=2.0, burst=5.0, max_keys=3)
    limiter = RateLimiter(config)
    now, allowed = 0.0, Counter[str]()
    for key, delta in events:
        now += delta
        wait = limiter.take(key, now)
        assert 0.0 <= wait <= 1.0 / config.rate
        allowed[key] += wait == 0.0
    for count in allowed.values():
        assert count <= config.burst + config.rate * now + 1e-9
