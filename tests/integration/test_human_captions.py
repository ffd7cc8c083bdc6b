"""A human captioner in the room, through the real server's HTTP API, read by real aiortc
participants: lines marked as human, sequence numbers repeated and out of order, the room's mode
(instead of / beside the automatic captions) and each participant's choice, tokens of another
room refused, every bad request refused without touching another room."""

import json
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio

from access import (
    CAPTIONER_GRANTS,
    DEFAULT_GRANTS,
    Grant,
    KeyRing,
    SigningKey,
)
from access.config import AccessConfig
from captionlog.log import LogConfig
from client import CaptionClient, WavTrack
from client.audio import RATE
from protocol import Caption, CaptionChoice, CaptionSource, CaptionSources, HumanMode
from protocol.captions import serialize_channel_message
from sfu.config import ServerConfig
from sfu.server import CaptionServer

from .conftest import http_request, ws_url
from .minting import room_token
from .scripted import ScriptedEngine, automatic_since

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY = SigningKey("k1", b"h" * 32)
REVIEW = {"Authorization": "Bearer review-secret"}


def token(room: str, identity: str, grants: frozenset[Grant] = CAPTIONER_GRANTS) -> str:
    return room_token(KeyRing((KEY,)), room, identity, grants)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CaptionServer]:
    config = ServerConfig(
        port=0,
        log=LogConfig(
            path=tmp_path_factory.mktemp("human") / "captions.db", reviewer_token="review-secret"
        ),
        access=AccessConfig(keys=KeyRing((KEY,))),
    )
    server = CaptionServer(config, engine_factory=lambda _: ScriptedEngine(period=1.2))
    await server.start()
    yield server
    await server.stop()


def person(server: CaptionServer, room: str, name: str, *, speaks: bool = False) -> CaptionClient:
    """A participant; one who speaks sends audio (the scripted engine captions any audio)."""
    audio = WavTrack(np.full(RATE, 0.01, np.float32), loop=True) if speaks else None
    return CaptionClient(
        ws_url(server), room=room, name=name, audio=audio, token=token(room, name, DEFAULT_GRANTS)
    )


async def send(
    server: CaptionServer,
    room: str,
    body: object,
    *,
    who: str | None = None,
    query: str = "",
    content_type: str = "application/json",
) -> tuple[int, dict]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": content_type}
    if who is not None:
        headers["Authorization"] = f"Bearer {token(room, who)}"
    status, _, reply = await http_request(
        server.port, "POST", f"/api/rooms/{room}/captions{query}", headers, raw
    )
    return status, json.loads(reply)


def human(client: CaptionClient) -> list[Caption]:
    return [r.caption for r in client.captions if r.caption.source is CaptionSource.HUMAN]


async def test_lines_reach_everyone_once_marked_human_whatever_the_order_of_their_numbers(
    server: CaptionServer,
) -> None:
    carol = person(server, "board", "carol")
    await carol.join()
    try:
        status, reply = await send(server, "board", {"seq": 5, "text": "Good  morning."}, who="cy")
        assert status == 200 and not reply["duplicate"] and not reply["late"]
        assert reply["mode"] == "instead" and reply["active"] is True
        first = reply["segments"]
        status, reply = await send(server, "board", {"seq": 5, "text": "Good morning."}, who="cy")
        assert status == 200 and reply["duplicate"] and reply["segments"] == first  # a retry
        status, reply = await send(server, "board", {"seq": 5, "text": "Other text"}, who="cy")
        assert status == 409 and "seq 5 was already used" in reply["message"]
        status, reply = await send(server, "board", {"seq": 3, "text": "Late line."}, who="cy")
        assert status == 200 and reply["late"]  # out of order: shown, and said to be late
        # Zoom's shape: the number and language in the URL, the text as the body.
        zoom = "Bonjour à tous. " * 8  # 128 characters: shown as two captions of 2 x 42
        status, reply = await send(
            server,
            "board",
            zoom.encode(),
            who="cy",
            query="?seq=7&lang=fr-FR",
            content_type="text/plain; charset=utf-8",
        )
        assert status == 200 and len(reply["segments"]) == 2
        await carol.wait_for(lambda: len(human(carol)) == 4, 10)
    finally:
        await carol.leave()
    lines = human(carol)
    assert [c.text for c in lines[:2]] == ["Good morning.", "Late line."]
    assert " ".join(c.text for c in lines[2:]) == zoom.strip()
    assert all(len(c.text) <= 84 for c in lines)
    assert all(c.final and c.words == () and c.captioner == "Cy" for c in lines)
    assert [c.language for c in lines] == [None, None, "fr", "fr"]
    # The log keeps them, marked the same way.
    _, _, body = await http_request(server.port, "GET", "/api/sessions?room=board", REVIEW)
    [session] = json.loads(body)["sessions"]
    _, _, body = await http_request(server.port, "GET", f"/api/sessions/{session['id']}", REVIEW)
    logged = [s for s in json.loads(body)["segments"] if s["source"] == "human"]
    assert [(s["text"], s["captioner"]) for s in logged][:2] == [
        ("Good morning.", "Cy"),
        ("Late line.", "Cy"),
    ]


async def test_a_captioner_token_gives_nothing_in_another_room(server: CaptionServer) -> None:
    carol = person(server, "room-b", "carol")
    await carol.join()
    try:
        line = json.dumps({"seq": 1, "text": "hello"}).encode()
        json_type = {"Content-Type": "application/json"}
        for headers, expected, message in [
            ({"Authorization": f"Bearer {token('room-a', 'cy')}"}, 403, "for room 'room-a'"),
            (
                {"Authorization": f"Bearer {token('room-b', 'pat', DEFAULT_GRANTS)}"},
                403,
                "does not grant 'caption'",
            ),
            ({"Authorization": "Bearer not.a.token"}, 403, ""),
            ({}, 401, "token is required"),
        ]:
            status, _, reply = await http_request(
                server.port, "POST", "/api/rooms/room-b/captions", {**headers, **json_type}, line
            )
            assert status == expected and message in json.loads(reply)["message"]
        mode = {"Authorization": f"Bearer {token('room-a', 'cy')}", **json_type}
        status, _, _ = await http_request(
            server.port, "PUT", "/api/rooms/room-b/captioner", mode, b'{"mode": "beside"}'
        )
        assert status == 403
        # The room's own captioner, by URL token as captioning software may only take a URL.
        query = f"?seq=1&token={token('room-b', 'cy')}"
        status, reply = await send(server, "room-b", b"hello", query=query, content_type="")
        assert status == 200
        status, reply = await send(server, "nobody-here", {"seq": 1, "text": "hi"}, who="cy")
        assert status == 404 and "no meeting in room 'nobody-here'" in reply["message"]
        await carol.wait_for(lambda: [c.text for c in human(carol)] == ["hello"], 10)
    finally:
        await carol.leave()


async def test_bad_lines_are_refused_precisely_and_a_flood_holds_back_its_room_only(
    server: CaptionServer,
) -> None:
    people = [person(server, "flood", "carol"), person(server, "calm", "dan")]
    for someone in people:
        await someone.join()
    try:
        for body, content_type, query, expected, message in [
            ({"seq": 1, "text": "   "}, "application/json", "", 400, "the line is empty"),
            ({"seq": -1, "text": "x"}, "application/json", "", 400, ">= 0"),
            ({"seq": 2**53, "text": "x"}, "application/json", "", 400, "at most"),
            ({"seq": 1, "text": "a\u0000b"}, "application/json", "", 400, "control character"),
            ({"seq": 1, "text": "x" * 501}, "application/json", "", 400, "longer than 500"),
            ({"seq": 1, "text": "x", "lang": "en"}, "application/json", "", 400, "unknown field"),
            ({"seq": 1, "text": "x", "language": "e"}, "application/json", "", 400, "language"),
            (b"x", "text/html", "", 415, "application/json or text/plain"),
            (b"x", "text/plain", "", 400, "needs ?seq=N"),
            (b"\xff", "text/plain", "?seq=1", 400, "not UTF-8"),
            (b"x" * 70_000, "text/plain", "?seq=1", 413, "over 64 KiB"),
            (b"x", "text/plain", "?seq=1&seq=2", 400, "more than once"),
        ]:
            status, reply = await send(
                server, "flood", body, who="cy", query=query, content_type=content_type
            )
            assert (status, message in reply["message"]) == (expected, True), (body, reply)
        statuses = [
            (await send(server, "flood", {"seq": n, "text": f"line {n}"}, who="cy"))[0]
            for n in range(30)
        ]
        assert statuses[:20] == [200] * 20 and 429 in statuses[20:]
        status, reply = await send(server, "calm", {"seq": 1, "text": "still here"}, who="cy")
        assert status == 200
        await people[1].wait_for(lambda: [c.text for c in human(people[1])] == ["still here"], 10)
    finally:
        for someone in people:
            await someone.leave()


async def test_human_captions_instead_of_or_beside_the_automatic_ones_as_each_chooses(
    server: CaptionServer,
) -> None:
    """Instead (the room's default): a participant who follows the room gets no new automatic
    caption while the captioner is active, one who chose automatic gets no human line, one who
    chose both gets everything. Beside: everyone gets both; the automatic ones are logged
    either way."""
    ada = person(server, "hearing", "ada", speaks=True)
    room, auto, both = (person(server, "hearing", n) for n in ("carol", "dan", "eve"))
    everyone = (ada, room, auto, both)
    for someone in everyone:
        await someone.join()
    try:
        for client, choice in ((auto, CaptionChoice.AUTOMATIC), (both, CaptionChoice.BOTH)):
            client.send_channel(serialize_channel_message(CaptionSources(choice)))
            await client.wait_for(lambda c=client: c.statuses[-1].human is not None, 10)
        await both.wait_for(lambda: any(not c.human for c in both.finals()), 20)

        async def line(seq: int) -> float:
            body = {"seq": seq, "text": f"Line {seq}."}
            status, reply = await send(server, "hearing", body, who="cy")
            assert status == 200, reply
            return time.time()

        sent = await line(1)
        await room.wait_for(lambda: room.statuses[-1].human is not None, 10)
        assert room.statuses[-1].human.mode is HumanMode.INSTEAD
        assert room.statuses[-1].human.active and room.statuses[-1].human.show == "room"

        await both.wait_for(lambda: len(automatic_since(both, sent)) >= 2, 20)
        await auto.wait_for(lambda: len(automatic_since(auto, sent)) >= 2, 20)
        assert automatic_since(room, sent) == set()
        assert [c.text for c in human(room)] == ["Line 1."] == [c.text for c in human(both)]
        assert human(auto) == []

        status, _, reply = await http_request(
            server.port,
            "PUT",
            "/api/rooms/hearing/captioner",
            {"Authorization": f"Bearer {token('hearing', 'cy')}"},
            b'{"mode": "beside"}',
        )
        assert status == 200 and json.loads(reply)["mode"] == "beside"
        switched = time.time()
        await room.wait_for(lambda: room.statuses[-1].human.mode is HumanMode.BESIDE, 10)
        await line(2)
        await room.wait_for(lambda: len(automatic_since(room, switched)) >= 2, 20)
        await room.wait_for(lambda: [c.text for c in human(room)] == ["Line 1.", "Line 2."], 10)
    finally:
        for someone in everyone:
            await someone.leave()
    _, _, body = await http_request(server.port, "GET", "/api/sessions?room=hearing", REVIEW)
    [session] = json.loads(body)["sessions"]
    _, _, body = await http_request(server.port, "GET", f"/api/sessions/{session['id']}", REVIEW)
    sources = {s["source"] for s in json.loads(body)["segments"]}
    assert sources == {"automatic", "human"}  # the automatic captions are logged either way
