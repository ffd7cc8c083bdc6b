"""A client written only from ASR-PROTOCOL.md (msgpack + websockets, no project imports) against
`livecaptions-captioner`, run as its own process, with the Whisper engine and with the tiny Kyutai
checkpoint. It does what Kyutai's reference client does: 1 s of silence, the recording in 1920-
sample frames paced at real time, silence, a Marker, and silence until the Marker comes back."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgpack
import numpy as np
import pytest
import pytest_asyncio
import soundfile
from websockets.asyncio.client import connect

pytestmark = pytest.mark.asyncio(loop_scope="module")

RATE = 24_000
FRAME = 1920
JFK = Path(__file__).parent.parent / "data" / "jfk.flac"


def recording(seconds: float) -> np.ndarray:
    pcm, rate = soundfile.read(JFK, dtype="float32", always_2d=True)
    mono = pcm.mean(axis=1)[: round(seconds * rate)]
    positions = np.arange(round(len(mono) * RATE / rate)) * rate / RATE
    return np.interp(positions, np.arange(len(mono)), mono).astype(np.float32)


async def start_server(*args: str) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "captionserver", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 240)
    match = re.search(rb"(ws://\S+)", line)
    assert match, line
    try:
        yield match.group(1).decode(), process
    finally:
        process.terminate()
        await process.wait()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def whisper_url() -> AsyncIterator[str]:
    async for url, _ in start_server("--engine", "whisper", "--api-key", "secret"):
        yield url


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def kyutai_url(tiny_checkpoint: Path) -> AsyncIterator[str]:
    server = start_server(
        "--engine", "kyutai", "--checkpoint", str(tiny_checkpoint), "--slots", "2"
    )
    async for url, _ in server:
        yield url


def audio(pcm: np.ndarray) -> bytes:
    packed: bytes = msgpack.packb({"type": "Audio", "pcm": pcm.tolist()}, use_single_float=True)
    return packed


async def transcribe(
    url: str, pcm: np.ndarray, headers: dict[str, str]
) -> tuple[list[dict[str, object]], float]:
    """Stream like Kyutai's reference client: every message received up to the Marker's echo,
    and the seconds of audio sent."""
    received: list[dict[str, object]] = []
    marker_back = asyncio.Event()
    async with connect(url, additional_headers=headers, max_size=None) as ws:

        async def read() -> None:
            async for frame in ws:
                assert isinstance(frame, bytes), "every message is a binary frame"
                message = msgpack.unpackb(frame)
                received.append(message)
                if message["type"] == "Marker" and message["id"] == 7:
                    marker_back.set()
                    return

        reader = asyncio.create_task(read())
        silence = np.zeros(FRAME, np.float32)
        frames = [silence] * round(RATE / FRAME)
        frames += [pcm[i : i + FRAME] for i in range(0, len(pcm), FRAME)]
        frames += [silence] * round(2 * RATE / FRAME)
        began = time.monotonic()
        for index, frame in enumerate(frames):
            await ws.send(audio(frame))
            # Real-time pace: frame i leaves at i * 80 ms (absolute, so delays do not accumulate).
            await asyncio.sleep(max(0.0, began + (index + 1) * FRAME / RATE - time.monotonic()))
        sent_before_marker = len(received)
        await ws.send(msgpack.packb({"type": "Marker", "id": 7}))
        seconds = len(frames) * FRAME / RATE
        while not marker_back.is_set():
            await ws.send(audio(silence))
            seconds += FRAME / RATE
            try:
                await asyncio.wait_for(marker_back.wait(), FRAME / RATE)
            except TimeoutError:
                if reader.done():
                    break
        await asyncio.wait_for(reader, 60)
    assert sent_before_marker <= len(received)
    return received, seconds


def check_stream(messages: list[dict[str, object]], duration: float) -> list[str]:
    kinds = [m["type"] for m in messages]
    assert kinds[0] == "Ready"
    assert kinds[-1] == "Marker", "the Marker comes back after the last audio's results"
    assert set(kinds) <= {"Ready", "Word", "EndWord", "Step", "Marker"}, "no extension unasked"
    starts = [float(m["start_time"]) for m in messages if m["type"] == "Word"]  # type: ignore[arg-type]
    assert starts == sorted(starts), "word times increase"
    # The server may have processed silence sent after the Marker before echoing it.
    assert all(0.0 <= s <= duration for s in starts)
    steps = [m["step_idx"] for m in messages if m["type"] == "Step"]
    assert steps == list(range(len(steps))) and steps, "one Step per 80 ms, numbered from 0"
    assert all(isinstance(m["prs"], list) for m in messages if m["type"] == "Step")
    return [str(m["text"]) for m in messages if m["type"] == "Word"]


async def test_whisper_transcribes_a_recording_at_real_time(whisper_url: str) -> None:
    pcm = recording(6.0)
    messages, seconds = await transcribe(whisper_url, pcm, {"kyutai-api-key": "secret"})
    words = check_stream(messages, seconds)
    said = " ".join(words).lower()
    assert "fellow americans" in said, said  # "And so, my fellow Americans, ask not ..."
    # Times count from the stream's first sample: "fellow" is ~1.4 s into the file, after 1 s of
    # silence.
    fellow = next(m for m in messages if m["type"] == "Word" and m["text"] == "fellow")
    assert 1.9 <= float(fellow["start_time"]) <= 2.9  # type: ignore[arg-type]


@pytest.mark.timeout(600)  # the first test to use `tiny_checkpoint` waits while it is made
async def test_kyutai_transcribes_a_recording_at_real_time(kyutai_url: str) -> None:
    pcm = recording(3.0)
    # The tiny checkpoint's weights are random: its words are noise, the protocol is real.
    messages, seconds = await transcribe(kyutai_url + "?auth_id=anything", pcm, {})
    check_stream(messages, seconds)
