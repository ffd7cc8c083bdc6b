"""`kill -9` of the server mid-meeting: every segment the log acknowledged is there after a restart.

The server runs as a subprocess (the embedded engine); a participant speaks espeak-ng sentences in
a loop. What the reviewer API returned before the kill had been committed."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from client import CaptionClient, WavTrack
from client.audio import RATE

from ..servers import PostgresServer
from .conftest import http_request

pytestmark = pytest.mark.asyncio(loop_scope="function")

REVIEW = {"Authorization": "Bearer review-secret"}


@contextmanager
def server_process(db: Path | str) -> Iterator[tuple[subprocess.Popen, int]]:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "sfu", "--port", "0", "--log-level", "WARNING"),
            *("--log-db", str(db), "--reviewer-token", "review-secret"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:  # the server says when it is ready, and where
            if match := re.search(r"ready on http://127\.0\.0\.1:(\d+)", line):
                break
        else:
            raise AssertionError("the server exited before it was ready")
        # Keep reading, so that the server never blocks on a full pipe.
        output: list[str] = []
        threading.Thread(target=output.extend, args=(process.stdout,), daemon=True).start()
        yield process, int(match.group(1))
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


async def transcript(port: int, room: str) -> tuple[dict, list[dict]]:
    _, _, body = await http_request(port, "GET", f"/api/sessions?room={room}", REVIEW)
    [session] = json.loads(body)["sessions"]
    _, _, body = await http_request(port, "GET", f"/api/sessions/{session['id']}", REVIEW)
    return session, json.loads(body)["segments"]


@pytest.fixture(params=["sqlite", "postgresql"])
def log_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    if request.param == "sqlite":
        return tmp_path / "captions.db"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()


async def test_acknowledged_segments_survive_kill_9(
    speech: dict[str, tuple[np.ndarray, str]], log_db: Path | str
) -> None:
    db = log_db
    pcm, _ = speech["report"]
    audio = np.concatenate([pcm, np.zeros(RATE, np.float32)])
    with server_process(db) as (process, port):
        url = f"ws://127.0.0.1:{port}/ws"
        ada = CaptionClient(url, room="crash", name="Ada", audio=WavTrack(audio, loop=True))
        bob = CaptionClient(url, room="crash", name="Bob")
        await ada.join()
        await bob.join()
        await bob.wait_for(lambda: len([c for c in bob.finals() if c.text]) >= 3, 60)
        session, before = await transcript(port, "crash")
        assert before, "the log acknowledged nothing before the kill"
        os.kill(process.pid, signal.SIGKILL)  # mid-meeting: audio still flowing
        process.wait(timeout=30)
        for participant in (ada, bob):
            await participant.close()
    assert session["ended_unix"] is None
    with server_process(db) as (_, port):
        after_session, after = await transcript(port, "crash")
    assert after_session["id"] == session["id"]
    kept = {s["segment"]: s for s in after}
    for segment in before:
        assert kept.get(segment["segment"]) == segment
