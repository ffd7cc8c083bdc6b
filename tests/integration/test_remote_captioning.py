"""The SFU with `--captioner`: rooms captioned by caption servers over ASR-PROTOCOL.md, through
real aiortc clients. Caption servers run as their own processes, so that one can really die."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest
import pytest_asyncio

from captioner.engine import AudioChunk, Engine, Revision, StreamUpdate
from captionserver.config import CaptionServerConfig
from captionserver.server import AsrService
from client import CaptionClient, WavTrack, load_audio
from client.audio import RATE
from protocol import StatusState, Word
from sfu.captioning.remote import RemoteCaptioning
from sfu.config import ServerConfig
from sfu.server import CaptionServer

from ..conftest import DATA
from .conftest import client
from .scripted import SENTENCE, ScriptedEngine

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY = "shared-secret"


@asynccontextmanager
async def caption_server_process(
    *args: str,
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "captionserver", "--port", "0", "--api-key", KEY, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 180)
        match = re.search(rb"(ws://\S+)", line)
        assert match, line
        yield match.group(1).decode(), process
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


@asynccontextmanager
async def sfu(*urls: str) -> AsyncIterator[CaptionServer]:
    server = CaptionServer(ServerConfig(port=0, captioners=urls, captioner_key=KEY))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def captions_after(listener: CaptionClient, room_time: float) -> bool:
    return any(c.text and c.start >= room_time for c in listener.finals())


@pytest.mark.timeout(400)
async def test_two_rooms_keep_their_captions_when_a_caption_server_dies() -> None:
    speech = load_audio(DATA / "jfk.flac", RATE)
    async with (
        caption_server_process("--max-streams", "2") as (url_a, process_a),
        caption_server_process("--max-streams", "2") as (url_b, _),
        sfu(url_a, url_b) as server,
    ):
        rooms = ("north", "south")
        speakers = {r: client(server, r, "Ada", audio=WavTrack(speech, loop=True)) for r in rooms}
        listeners = {r: client(server, r, "Carol") for r in rooms}
        for room in rooms:
            await speakers[room].join()
            await listeners[room].join()
        try:
            for room in rooms:  # both rooms captioned, one stream on each server
                await listeners[room].wait_for(lambda r=room: captions_after(listeners[r], 0.0), 90)
            process_a.send_signal(signal.SIGKILL)
            await process_a.wait()
            killed_at = {r: server.rooms[r].now() for r in rooms}
            for room in rooms:  # and still captioned afterwards, by the server left
                await listeners[room].wait_for(
                    lambda r=room: captions_after(listeners[r], killed_at[r] + 1.0), 90
                )
        finally:
            for participant in (*speakers.values(), *listeners.values()):
                await participant.leave()
        assert isinstance(server.captioning, RemoteCaptioning)
        assert server.captioning.failures >= 1  # the dead server's stream was moved
        said = " ".join(c.text for c in listeners["north"].finals()).lower()
        assert "country" in said or "americans" in said, said


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def small_servers() -> AsyncIterator[list[AsrService]]:
    """Two caption servers of one slot each, in this process."""
    services = [
        AsrService(CaptionServerConfig(port=0, api_keys=frozenset({KEY}), max_streams=1))
        for _ in range(2)
    ]
    for service in services:
        await service.start()
    yield services
    for service in services:
        await service.stop()


async def test_a_full_server_is_skipped_and_unavailable_only_when_none_has_room(
    small_servers: list[AsrService],
) -> None:
    async with sfu(*(s.url for s in small_servers)) as server:
        people = [client(server, room, "Ada") for room in ("one", "two", "three")]
        try:
            for person in people[:2]:
                await person.join()
            # Each room gets the one slot of a server, whichever it asked first.
            await people[0].wait_for(
                lambda: all(s.health()["free"] == 0 for s in small_servers), 30
            )
            await people[2].join()
            third = people[2]
            await third.wait_for(
                lambda: any(s.state is StatusState.UNAVAILABLE for s in third.statuses), 30
            )
            for person in people[:2]:
                assert all(s.state is not StatusState.UNAVAILABLE for s in person.statuses)
            assert sum(s.counters.refused for s in small_servers) >= 2  # both were asked
            await people[0].leave()  # a slot frees: the third room gets it
            await third.wait_for(lambda: third.statuses[-1].state is StatusState.OK, 30)
        finally:
            for person in people:
                await person.leave()


class RevisingEngine:
    """An engine that hears one scripted sentence on the audio's own clock, whatever the audio,
    and corrects a word of it as Whisper does once it has heard the rest ("asked" → "ask")."""

    name = "revising"
    languages = ("en",)
    capacity = None

    def __init__(self) -> None:
        self._heard: dict[str, tuple[float, int]] = {}  # stream → (start, script steps done)

    def open_stream(self, stream_id: str, start: float) -> None:
        self._heard[stream_id] = (start, 0)

    def set_language(self, stream_id: str, language: str | None) -> None:
        pass

    def close_stream(self, stream_id: str) -> None:
        self._heard.pop(stream_id, None)

    def step(self, chunks: Sequence[AudioChunk]) -> list[StreamUpdate]:
        updates = []
        for chunk in chunks:
            start, done = self._heard[chunk.stream_id]
            if done < 3 and chunk.end - start >= 1.0 + 0.3 * done:  # words come, no pause
                self._heard[chunk.stream_id] = (start, done + 1)
                updates.append(self._script(chunk, start, done))
        return updates

    @staticmethod
    def _script(chunk: AudioChunk, start: float, done: int) -> StreamUpdate:
        def words(text: str, at: float) -> tuple[Word, ...]:
            return tuple(
                Word(w, start + at + 0.2 * i, start + at + 0.2 * i + 0.15)
                for i, w in enumerate(text.split())
            )

        if done == 0:
            return StreamUpdate(chunk.stream_id, words("so asked not what", 0.1), words("you", 0.9))
        if done == 1:
            fixed = Revision(3, words("ask not what", 0.3))
            return StreamUpdate(chunk.stream_id, words("you", 0.9), revision=fixed)
        return StreamUpdate(chunk.stream_id, words("can.", 1.1), end_of_utterance=True)


async def first_final_through(engine: Engine, room: str) -> CaptionClient:
    """Ada speaks JFK into `room` of an SFU whose caption server runs `engine` (one slot); Carol,
    once she got a final caption."""
    service = AsrService(
        CaptionServerConfig(port=0, api_keys=frozenset({KEY}), max_streams=1),
        engine_factory=lambda config: engine,
    )
    await service.start()
    try:
        async with sfu(service.url) as server:
            ada = client(server, room, "Ada", audio=WavTrack(load_audio(DATA / "jfk.flac")))
            carol = client(server, room, "Carol")
            await ada.join()
            await carol.join()
            try:
                await carol.wait_for(lambda: carol.finals(), 60)
            finally:
                await ada.leave()
                await carol.leave()
    finally:
        await service.stop()
    return carol


async def test_a_revised_word_reaches_the_room_before_its_final_caption() -> None:
    carol = await first_final_through(RevisingEngine(), "revised")
    shown = [r.caption.text for r in carol.captions]
    assert "so asked not what" in shown  # committed, shown, then corrected in place
    assert [c.text for c in carol.finals()] == ["so ask not what you can."]


async def test_word_confidence_crosses_the_caption_server_to_the_room() -> None:
    """The engine's confidence in each word reaches participants through a caption server, on
    partial and final captions alike (our extension of the ASR protocol carries it)."""
    carol = await first_final_through(ScriptedEngine(period=1.5), "sure")
    final = carol.finals()[0]
    assert [(w.text, w.confidence) for w in final.words or ()] == list(SENTENCE)
    partial = next(r.caption for r in carol.captions if not r.caption.final)
    assert [w.confidence for w in partial.words or ()] == [c for _, c in SENTENCE[:2]]
