"""Past the engine's capacity (issue 20, item 2): every room is still captioned, latency grows
alike in every room, participants are told that captions are delayed (a Chromium page shows it),
and /metrics says so. The engine is a slow scripted one: it serves every stream in each step, as
the scheduler hands them over, and each stream's decode costs it real time."""

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Sequence

import numpy as np
import pytest
import pytest_asyncio

from captioner.engine import AudioChunk, StreamUpdate
from captioner.speech_gate import level_db
from client import CaptionClient, WavTrack
from protocol import StatusState, Word
from sfu.config import ServerConfig
from sfu.server import CaptionServer

from .browser_pages import MeetingPage, chromium_args, require_chromium
from .conftest import client

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROOMS = 4
DECODE_SECONDS = 1.0  # per stream and step: four speaking rooms take 4 s a step


class SlowEngine:
    """One word for each stream's new speech, each step; `DECODE_SECONDS` of work per stream.
    Every third word of a stream ends a sentence, so segments close and finals come too."""

    name = "slow"
    languages = ("en",)
    capacity = None

    def __init__(self) -> None:
        self.words: dict[str, int] = {}

    def open_stream(self, stream_id: str, start: float) -> None:
        self.words[stream_id] = 0

    def set_language(self, stream_id: str, language: str | None) -> None:
        pass

    def close_stream(self, stream_id: str) -> None:
        self.words.pop(stream_id, None)

    def step(self, chunks: Sequence[AudioChunk]) -> list[StreamUpdate]:
        spoken = [c for c in chunks if len(c.pcm) and level_db(c.pcm) > -45]
        time.sleep(DECODE_SECONDS * len(spoken))  # what a decode costs, for each stream
        updates = []
        for chunk in spoken:
            count = self.words[chunk.stream_id] = self.words.get(chunk.stream_id, 0) + 1
            text = f"word{count}" + ("." if count % 3 == 0 else "")
            word = Word(text, chunk.start, chunk.end)
            updates.append(StreamUpdate(chunk.stream_id, (word,), language="en"))
        return updates


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server() -> AsyncIterator[CaptionServer]:
    server = CaptionServer(
        ServerConfig(port=0, metrics_room_labels=True), engine_factory=lambda _: SlowEngine()
    )
    await server.start()
    yield server
    await server.stop()


def loud(seconds: float) -> np.ndarray:
    """48 kHz of something the speech gate hears as speech."""
    t = np.arange(round(seconds * 48_000)) / 48_000
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2).astype(
        np.float32
    )


async def test_past_capacity_every_room_is_captioned_late_alike_and_told(
    server: CaptionServer,
) -> None:
    from playwright.async_api import async_playwright

    speakers: list[CaptionClient] = [
        client(server, f"busy-{i}", f"Speaker {i}", audio=WavTrack(loud(60), play_offset=0.2))
        for i in range(ROOMS)
    ]
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=require_chromium(), args=chromium_args(None, grant_microphone=False)
        )
        try:
            page = await MeetingPage.open(await browser.new_context(), server.url)
            await page.join("busy-0", "Reader", listen_only=True)
            await page.wait_in_room()
            for speaker in speakers:
                await speaker.join()
            try:
                await asyncio.gather(
                    *(
                        s.wait_for(lambda s=s: delayed(s) and len(s.captions) >= 6, 90)
                        for s in speakers
                    )
                )
            except TimeoutError:
                seen = [
                    (len(s.captions), [round(s.latency(r), 1) for r in s.captions][-6:], s.statuses)
                    for s in speakers
                ]
                raise AssertionError(f"not told of a delay: {seen}") from None
            await page.page.wait_for_function(
                "document.getElementById('engine-state').textContent.includes('delayed by')",
                timeout=30_000,
            )
            metrics = server.metrics.render().decode()
        finally:
            for speaker in speakers:
                await speaker.leave()
            await browser.close()
    # Every room is captioned; none is starved: their median latencies are alike.
    medians = [statistics.median(s.latency(r) for r in s.captions) for s in speakers]
    assert min(medians) > 1.5, medians  # late: past capacity...
    assert max(medians) / min(medians) < 1.6, medians  # ...alike in every room
    status = next(st for st in speakers[0].statuses if st.delay is not None)
    assert status.state is StatusState.DEGRADED and status.delay >= 3.0
    assert 'livecaptions_rooms_captions_delayed{room="busy-0"} 1.0' in metrics
    assert "livecaptions_room_caption_delay_seconds" in metrics


def delayed(speaker: CaptionClient) -> bool:
    return any(s.delay is not None for s in speaker.statuses)
