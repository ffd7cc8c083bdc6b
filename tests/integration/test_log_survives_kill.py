"""`kill -9` of the server mid-meeting: every segment the log acknowledged is there after a restart,
and every correction the API acknowledged.

The server runs as a subprocess (the embedded engine); a participant speaks espeak-ng sentences in
a loop, or reviewers correct captions. What the reviewer API returned before the kill had been
committed."""

import asyncio
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
from urllib.parse import quote

import numpy as np
import pytest

from captionlog.backends import open_store
from client import CaptionClient, WavTrack
from client.audio import RATE

from ..captionlog.conftest import seed
from ..servers import PostgresServer
from .conftest import http_request

pytestmark = pytest.mark.asyncio(loop_scope="function")

REVIEW = {"Authorization": "Bearer review-secret"}
SEGMENTS = [f"room#1-{n}" for n in range(4)]  # of the seeded session (tests/captionlog)


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


async def test_acknowledged_corrections_survive_kill_9(log_db: Path | str) -> None:
    """Four reviewers correct a segment each, over and over, while the server is killed: every
    correction the API acknowledged (200) is in the history and the segment, after a restart."""
    seeded = open_store(log_db)
    seed(seeded)
    seeded.close()
    session = "a" * 32
    acknowledged: dict[str, list[tuple[int, str]]] = {s: [] for s in SEGMENTS}
    # Kill once every reviewer has had corrections acknowledged: the four share one token, so one
    # rate limit (5/s, burst 50), and a count over all of them let one reviewer have none.
    every_reviewer_acknowledged = asyncio.Event()

    async def reviewer(port: int, segment: str) -> None:
        path = f"/api/sessions/{session}/segments/{quote(segment, safe='')}"
        headers = {**REVIEW, "Content-Type": "application/json"}
        rev = 0
        while True:
            text = f"{segment} as corrected, revision {rev + 1}"
            body = json.dumps({"text": text, "rev": rev}).encode()
            try:
                status, reply_headers, _ = await http_request(port, "PATCH", path, headers, body)
            except (ConnectionError, OSError, IndexError, ValueError):
                return  # killed mid-request: not acknowledged
            if status == 200:
                rev += 1
                acknowledged[segment].append((rev, text))
                if all(len(done) >= 5 for done in acknowledged.values()):
                    every_reviewer_acknowledged.set()
            elif status == 429:  # the reviewers' shared rate limit: wait as the API says
                await asyncio.sleep(float(reply_headers.get("retry-after", "1")))

    with server_process(log_db) as (process, port):
        tasks = [asyncio.ensure_future(reviewer(port, s)) for s in SEGMENTS]
        await asyncio.wait_for(every_reviewer_acknowledged.wait(), timeout=60)
        os.kill(process.pid, signal.SIGKILL)  # corrections in flight
        process.wait(timeout=30)
        await asyncio.gather(*tasks)
    with server_process(log_db) as (_, port):
        _, _, body = await http_request(port, "GET", f"/api/sessions/{session}", REVIEW)
    detail = json.loads(body)
    segments = {s["segment"]: s for s in detail["segments"]}
    applied = {(c["segment"], c["rev"], c["text_after"]) for c in detail["corrections"]}
    for segment, done in acknowledged.items():
        assert done, f"nothing acknowledged for {segment}"
        for rev, text in done:
            assert (segment, rev, text) in applied
        last_rev, _ = done[-1]
        # A correction committed but not yet answered when the server died may be there too.
        assert segments[segment]["rev"] in (last_rev, last_rev + 1)
