"""Integration tests: the real server on loopback, driven by real aiortc clients."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import numpy as np
import pytest_asyncio

from client import CaptionClient, WavTrack
from client.audio import RATE
from client.browsers import CHROMIUM
from client.speech import Utterance
from sfu.config import ServerConfig
from sfu.server import CaptionServer


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server() -> AsyncIterator[CaptionServer]:
    server = CaptionServer(ServerConfig(port=0))
    await server.start()
    yield server
    await server.stop()


async def http_request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One plain HTTP/1.1 request on loopback: (status, lower-cased headers, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    headers = dict(headers or {})
    if body is not None:
        headers.setdefault("Content-Length", str(len(body)))
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n".encode()
        + (body or b"")
    )
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in fields.items()}, body


def turns(
    speech: dict[str, tuple[np.ndarray, str]], order: list[tuple[str, str]], gap: float = 1.2
):
    """One track per speaker, silent while the other speaks, and the timetable."""
    total = sum(len(speech[k][0]) for _, k in order) + round(gap * RATE) * (len(order) + 1)
    tracks = {who: np.zeros(total, np.float32) for who, _ in order}
    timetable, position = [], round(gap * RATE)
    for who, key in order:
        pcm, text = speech[key]
        tracks[who][position : position + len(pcm)] = pcm
        timetable.append(Utterance(who, text, position / RATE, (position + len(pcm)) / RATE))
        position += len(pcm) + round(gap * RATE)
    return tracks, timetable


@asynccontextmanager
async def conversation(
    server: CaptionServer, room: str, speech: dict[str, tuple[np.ndarray, str]], **kwargs: object
) -> AsyncIterator[tuple[dict[str, CaptionClient], CaptionClient, list[Utterance], float]]:
    """Ada and Bob take turns (two espeak voices) while Carol listens; yields once Carol has the
    final captions of the last turn: (speakers, Carol, the timetable, track time → room time),
    and everyone leaves on exit."""
    order = [("Ada", "ada"), ("Bob", "bob"), ("Ada", "ada2"), ("Bob", "bob2")]
    tracks, timetable = turns(speech, order)
    go = asyncio.Event()
    played = {name: WavTrack(tracks[name], start=go) for name in ("Ada", "Bob")}
    speakers = {name: client(server, room, name, audio=played[name], **kwargs) for name in played}
    carol = client(server, room, "Carol", **kwargs)
    everyone = (*speakers.values(), carol)
    for participant in everyone:
        await participant.join()
    try:
        go.set()
        await asyncio.wait_for(played["Ada"].finished.wait(), 60)
        assert played["Ada"].started_at is not None and carol.joined is not None
        offset = played["Ada"].started_at - carol.joined.clock_origin
        last_end = offset + timetable[-1].end

        def done() -> bool:
            finals = [c for c in carol.finals() if c.text]
            return bool(finals) and finals[-1].end >= last_end - 1.5

        await carol.wait_for(done, 30)
        yield speakers, carol, timetable, offset
    finally:
        for participant in everyone:
            await participant.leave()
    for participant in everyone:
        assert participant.negotiation_violations == [], participant.name


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `predicate` (audio frames wake nobody) until it holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def ws_url(server: CaptionServer) -> str:
    return f"ws://127.0.0.1:{server.port}/ws"


# Clients negotiate as Chromium does (Opus as 111, where the server's aiortc says 96): clients that
# negotiated as aiortc does agreed with every server offer by chance, and hid that server offers
# renumbered payload types (issue 9). `conversation` checks every server offer they saw. The tests
# of renegotiation run as Firefox too (`client.browsers.FIREFOX`, issue 18).
def client(server: CaptionServer, room: str, name: str, **kwargs: object) -> CaptionClient:
    kwargs.setdefault("shape", CHROMIUM)
    return CaptionClient(ws_url(server), room=room, name=name, **kwargs)  # type: ignore[arg-type]


async def wait_for_speech_captioned(listener: CaptionClient, track, timeout: float = 60.0) -> None:
    """Wait until `track` has played out and a final caption covers its last seconds."""
    await asyncio.wait_for(track.finished.wait(), timeout)
    assert listener.joined is not None and track.started_at is not None
    speech_end = track.started_at + track.duration - listener.joined.clock_origin

    def covered() -> bool:
        finals = [c for c in listener.finals() if c.text]
        return bool(finals) and finals[-1].end >= speech_end - 2.0 and not _open(listener)

    await listener.wait_for(covered, timeout)


def _open(listener: CaptionClient) -> bool:
    """True while some segment has a partial update and no final yet."""
    final = {r.caption.segment for r in listener.captions if r.caption.final}
    return any(r.caption.segment not in final for r in listener.captions)
