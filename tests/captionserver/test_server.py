"""The caption server on loopback, driven over the protocol: keys, capacity, and bad input — each
answered with a clear `Error` or HTTP 401, while a well-behaved stream beside them goes on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import msgpack
import numpy as np
import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from asr.client import Admitted, AsrClientSession, MarkerBack, Progress, Refused
from asr.messages import FRAME_SAMPLES
from captionserver.config import CaptionServerConfig
from captionserver.server import AsrService

from ..integration.conftest import http_request

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY = {"kyutai-api-key": "k1"}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service() -> AsyncIterator[AsrService]:
    service = AsrService(
        CaptionServerConfig(port=0, api_keys=frozenset({"k1", "k2"}), max_streams=3)
    )
    await service.start()
    yield service
    await service.stop()


async def expect_error(ws: ClientConnection) -> tuple[str, int | None]:
    """Read up to the server's Error; its text and the close code that follows."""
    while True:
        message = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 30))
        if message["type"] == "Error":
            break
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 30)
    return message["message"], ws.close_code


async def ready(ws: ClientConnection) -> None:
    assert msgpack.unpackb(await asyncio.wait_for(ws.recv(), 30)) == {"type": "Ready"}


async def marker_round_trip(ws: ClientConnection, marker: int) -> None:
    """Audio, a Marker, silence until it comes back: the stream is alive and served."""
    session = AsrClientSession()
    session.state = session.state.SERVING
    silence = np.zeros(FRAME_SAMPLES, np.float32)
    await ws.send(session.audio(silence))
    await ws.send(session.marker(marker))
    for _ in range(200):
        await ws.send(session.audio(silence))
        try:
            while True:
                frame = await asyncio.wait_for(ws.recv(), 0.08)
                assert isinstance(frame, bytes)
                if MarkerBack(marker) in session.receive(frame):
                    return
        except TimeoutError:
            continue
    raise AssertionError(f"Marker {marker} never came back")


async def test_wrong_or_missing_key_is_refused_with_401(service: AsrService) -> None:
    for headers, url in [({"kyutai-api-key": "nope"}, service.url), ({}, service.url)]:
        with pytest.raises(InvalidStatus) as refused:
            await connect(url, additional_headers=headers)
        assert refused.value.response.status_code == 401
    # Audio before auth cannot happen: the upgrade itself is refused.
    status, _, body = await http_request(
        service.port,
        "GET",
        "/api/asr-streaming?auth_id=wrong",
        {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
         "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="},
    )  # fmt: skip
    assert status == 401 and b"unknown API key" in body
    async with connect(service.url + "?auth_id=k2") as ws:  # the query parameter works too
        await ready(ws)


async def test_bad_frames_get_a_clear_error_and_others_are_unaffected(service: AsrService) -> None:
    async with connect(service.url, additional_headers=KEY) as good:
        await ready(good)
        await marker_round_trip(good, 1)
        cases: list[tuple[bytes, str]] = [
            (b"\xc1 not msgpack", "not MessagePack"),
            (msgpack.packb([1, 2, 3]), "MessagePack map"),
            (msgpack.packb({"type": "Dance"}), "unknown message type 'Dance'"),
            (msgpack.packb({"pcm": [0.0]}), "string field 'type'"),
            (msgpack.packb({"type": "Audio", "pcm": "loud"}), "Audio.pcm must be an array"),
            (msgpack.packb({"type": "Audio", "pcm": [0.1, "x"]}), "Audio.pcm must be an array"),
            (msgpack.packb({"type": "Marker", "id": "seven"}), "Marker.id must be an integer"),
            (msgpack.packb({"type": "OggOpus", "data": b"OggS"}), "OggOpus is not supported"),
            (b"\x00" * (2 << 20), "over the limit"),
        ]
        for frame, expected in cases:
            async with connect(service.url, additional_headers=KEY, max_size=None) as bad:
                await ready(bad)
                await bad.send(frame)
                message, code = await expect_error(bad)
                assert expected in message, (expected, message)
                assert code == 1008
        await marker_round_trip(good, 2)
    assert service.counters.protocol_errors >= len(cases)


async def test_text_and_init_frames_are_ignored(service: AsrService) -> None:
    async with connect(service.url, additional_headers=KEY) as ws:
        await ready(ws)
        await ws.send("hello")
        await ws.send(msgpack.packb({"type": "Init"}))
        await marker_round_trip(ws, 3)


async def test_full_server_says_no_free_channels_then_takes_a_stream_again(
    service: AsrService,
) -> None:
    async with (
        connect(service.url, additional_headers=KEY) as a,
        connect(service.url, additional_headers=KEY) as b,
        connect(service.url, additional_headers=KEY) as c,
    ):
        for ws in (a, b, c):
            await ready(ws)
        status, _, body = await http_request(service.port, "GET", "/healthz")
        assert status == 200 and json.loads(body)["free"] == 0
        async with connect(service.url, additional_headers=KEY) as extra:
            message, code = await expect_error(extra)
        assert message == "no free channels" and code == 1013
        await marker_round_trip(c, 4)  # those admitted are served all the same
    refused = 1
    # Slots free once the closed streams' last steps ran (each refusal until then is counted).
    for _ in range(100):
        async with connect(service.url, additional_headers=KEY) as again:
            events = AsrClientSession().receive(await asyncio.wait_for(again.recv(), 30))
        if events == [Admitted()]:
            break
        assert isinstance(events[0], Refused)
        refused += 1
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("no slot was freed")
    _, _, metrics = await http_request(service.port, "GET", "/metrics")
    expected = f"livecaptions_captioner_streams_refused_total {refused}".encode()
    assert expected in metrics.replace(b".0", b"")


async def test_steps_count_the_audio(service: AsrService) -> None:
    session = AsrClientSession()
    async with connect(service.url, additional_headers=KEY) as ws:
        assert session.receive(await ws.recv()) == [Admitted()]
        await ws.send(session.audio(np.zeros(FRAME_SAMPLES * 5, np.float32)))
        await ws.send(session.marker(9))
        progress: list[float] = []
        while True:
            events = session.receive(await asyncio.wait_for(ws.recv(), 30))
            progress += [e.processed for e in events if isinstance(e, Progress)]
            if MarkerBack(9) in events:
                break
    assert progress == pytest.approx([0.08 * i for i in range(1, 6)])
