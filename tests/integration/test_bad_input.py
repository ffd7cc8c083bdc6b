"""Bad input gets the right error code, and the room keeps working for the others."""

import json

import numpy as np
import pytest
from websockets.asyncio.client import connect

from client import WavTrack
from protocol import Join
from protocol.signaling import serialize
from sfu.server import CaptionServer

from .conftest import client, ws_url

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def exchange(ws, frame: str | bytes) -> dict:
    await ws.send(frame)
    return json.loads(await ws.recv())


async def test_each_bad_frame_gets_its_code_and_the_room_goes_on(
    server: CaptionServer, speech: dict[str, tuple[np.ndarray, str]]
) -> None:
    track = WavTrack(speech["report"][0], play_offset=0.3)
    ada = client(server, "sturdy", "Ada", audio=track)
    # One frame per join and leave: in batches, Eve's short stay could cancel out for Bob.
    bob = client(server, "sturdy", "Bob", batch_presence=False)
    await ada.join()
    await bob.join()
    try:
        async with connect(ws_url(server), max_size=None) as ws:
            assert await exchange(ws, "this is not json") == {
                "type": "error",
                "code": "bad-request",
                "ref": None,
                "message": "frame is not valid JSON: Expecting value: line 1 column 1 (char 0)",
            }
            big = json.dumps({"type": "offer", "sdp": "v=0\r\n" + "a" * 70_000})
            assert (await exchange(ws, big))["code"] == "too-large"
            reply = await exchange(ws, '{"type": "teleport"}')
            assert (reply["code"], reply["ref"]) == ("bad-request", "teleport")
            reply = await exchange(ws, '{"type": "offer", "sdp": "v=0"}')
            assert (reply["code"], reply["ref"]) == ("not-joined", "offer")
            bad_room = serialize(Join("ok", "Eve")).replace('"ok"', '"no room!"')
            reply = await exchange(ws, bad_room)
            assert (reply["code"], reply["ref"]) == ("bad-request", "join")
            assert (await exchange(ws, b"\x00\x01"))["code"] == "bad-request"

            # Joined into the same room as Ada and Bob, then garbage SDP.
            joined = await exchange(ws, serialize(Join("sturdy", "Eve")))
            assert joined["type"] == "joined"
            assert {p["name"] for p in joined["participants"]} == {"Ada", "Bob"}
            reply = await exchange(ws, '{"type": "offer", "sdp": "garbage"}')
            assert (reply["code"], reply["ref"]) == ("bad-request", "offer")
            reply = await exchange(
                ws,
                json.dumps(
                    {
                        "type": "offer",
                        "sdp": "v=0\r\nm=audio 9 x\r\n"
                        "m=application 9 y\r\na=rtpmap:1 opus/48000\r\n",
                    }
                ),
            )
            assert (reply["code"], reply["ref"]) == ("bad-request", "offer")
            reply = await exchange(ws, '{"type": "answer", "sdp": "v=0"}')
            assert (reply["code"], reply["ref"]) == ("bad-request", "answer")
            reply = await exchange(ws, '{"type": "subtitles", "enabled": "yes"}')
            assert (reply["code"], reply["ref"]) == ("bad-request", "subtitles")

        # Eve's socket closed: the room noticed, and captions kept flowing to the others.
        await bob.wait_for(
            lambda: any(
                e.participant.name == "Eve"
                for e in bob.events
                if type(e).__name__ == "ParticipantLeft"
            ),
            10,
        )
        await bob.wait_for(lambda: any(c.text for c in bob.finals()), 30)
        assert ada.errors == [] and bob.errors == []
    finally:
        await ada.leave()
        await bob.leave()
    assert (
        'livecaptions_signaling_errors_total{code="bad-request"}'
        in server.metrics.render().decode()
    )


async def test_repeated_abuse_closes_with_1008(server: CaptionServer) -> None:
    async with connect(ws_url(server)) as ws:
        for _ in range(10):
            await ws.send("nonsense")
        codes = [json.loads(await ws.recv())["code"] for _ in range(10)]
        assert codes == ["bad-request"] * 10
        await ws.wait_closed()
        assert ws.close_code == 1008


async def test_full_room_and_wrong_token(server: CaptionServer) -> None:
    from dataclasses import replace

    limits = server.config
    server.config = replace(limits, max_participants=1, participant_token="s3cret")
    try:
        first = client(server, "tiny", "Ada", token="s3cret")
        await first.join()
        async with connect(ws_url(server)) as ws:
            reply = await exchange(ws, serialize(Join("tiny", "Bob", token="wrong")))
            assert (reply["code"], reply["ref"]) == ("unauthorized", "join")
            reply = await exchange(ws, serialize(Join("tiny", "Bob", token="s3cret")))
            assert (reply["code"], reply["ref"]) == ("room-full", "join")
            reply = await exchange(ws, serialize(Join("other", "Bob", token="s3cret")))
            assert reply["type"] == "joined"
        await first.leave()
    finally:
        server.config = limits


async def test_frame_over_the_hard_limit_closes_1009(server: CaptionServer) -> None:
    async with connect(ws_url(server), max_size=None) as ws:
        await ws.send("x" * (2 * 1024 * 1024))
        await ws.wait_closed()
        assert ws.close_code == 1009
