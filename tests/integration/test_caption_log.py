"""The caption log end to end: a real meeting of aiortc clients speaking espeak-ng lines is logged,
reviewed through the API with a reviewer token, exported and parsed back by real parsers."""

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio
import srt
import webvtt

from captionlog.log import LogConfig
from client.speech import word_error_rate
from sfu.config import ServerConfig
from sfu.server import CaptionServer

from .conftest import client, conversation, http_request

pytestmark = pytest.mark.asyncio(loop_scope="module")

JOIN = "join-secret"
REVIEW = "review-secret"
BEARER = {"Authorization": f"Bearer {REVIEW}"}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def logged(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CaptionServer]:
    db = tmp_path_factory.mktemp("log") / "captions.db"
    config = ServerConfig(
        port=0, participant_token=JOIN, log=LogConfig(path=db, reviewer_token=REVIEW)
    )
    server = CaptionServer(config)
    await server.start()
    yield server
    await server.stop()


async def api(server: CaptionServer, path: str, method: str = "GET", **headers: str):
    status, fields, body = await http_request(server.port, method, path, headers or BEARER)
    return status, fields, body


async def test_a_meeting_is_logged_and_exports_hold_who_said_what(
    logged: CaptionServer, speech: dict[str, tuple[np.ndarray, str]]
) -> None:
    async with conversation(logged, "convo", speech, token=JOIN) as (_, carol, timetable, _):
        flagged = [c for c in carol.finals() if c.text][-1].segment
        carol.flag(reason="the name is wrong")
        carol.send_channel('{"type": "flag", "segment": 12}')  # invalid: answered, not stored
        carol.flag("convo#99-0")  # a segment Carol never received
        await carol.wait_for(lambda: len(carol.errors) >= 2, 10)
    assert [e.ref for e in carol.errors] == ["flag", "flag"]
    assert "segment" in carol.errors[0].message
    assert "not a final caption sent to you" in carol.errors[1].message
    assert logged.log is not None and await asyncio.to_thread(logged.log.flush)

    status, _, body = await api(logged, "/api/sessions?room=convo")
    assert status == 200
    [session] = json.loads(body)["sessions"]
    assert session["ended_unix"] is not None and session["flags"] == 1
    status, _, body = await api(logged, f"/api/sessions/{session['id']}")
    detail = json.loads(body)
    segments = detail["segments"]
    assert len(segments) == session["segments"] > 0
    assert [s["start"] for s in segments] == sorted(s["start"] for s in segments)
    assert all(s["latency"] is not None and s["words"] for s in segments)
    sent = {c.segment: c.text for c in carol.finals() if c.text}
    assert {s["segment"]: s["text"] for s in segments} == sent  # every final, as sent

    status, headers, body = await api(logged, f"/api/sessions/{session['id']}/export.vtt")
    assert status == 200 and headers["content-type"].startswith("text/vtt")
    assert headers["content-disposition"].startswith('attachment; filename="convo-')
    cues = webvtt.from_buffer(io.StringIO(body.decode()))
    assert len(cues) == len(segments)
    for name in ("Ada", "Bob"):
        spoken = " ".join(u.text for u in timetable if u.speaker == name)
        captioned = " ".join(c.text for c in cues if c.voice == name)
        assert word_error_rate(spoken, captioned) <= 0.35, (name, captioned)
    order_of_voices = [c.voice for c in cues]
    assert order_of_voices.index("Ada") < order_of_voices.index("Bob")

    status, _, body = await api(logged, f"/api/sessions/{session['id']}/export.srt")
    subtitles = list(srt.parse(body.decode()))
    assert [s.content.split(":")[0] for s in subtitles] == order_of_voices
    status, _, body = await api(logged, f"/api/sessions/{session['id']}/export.txt")
    assert status == 200 and b"Ada: " in body and b"Bob: " in body

    status, _, body = await api(logged, f"/api/sessions/{session['id']}/quality")
    report = json.loads(body)
    assert report["latency"]["p50"] is not None and report["speech_seconds"] > 5
    [flag] = report["flags"]
    assert flag["segment"] == flagged and flag["participant_name"] == "Carol"
    assert flag["reason"] == "the name is wrong" and flag["text"] == sent[flagged]

    word = timetable[0].text.split()[-1].strip(".")  # "everyone"
    status, _, body = await api(logged, f"/api/search?q={word}")
    hits = json.loads(body)["hits"]
    assert hits and all(word.lower() in h["text"].lower() for h in hits)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize(
    ("headers", "status", "says"),
    [
        ({}, 401, "credential is required"),
        ({"Authorization": "Bearer nope"}, 403, "invalid reviewer credential"),
        ({"Authorization": f"Bearer {JOIN}"}, 403, "participant credential"),
        (basic("ada", JOIN), 403, "participant credential"),
        ({"Authorization": "Basic %%%"}, 403, "invalid"),
        (basic("reviewer", REVIEW), 200, None),
        (BEARER, 200, None),
    ],
)
async def test_only_the_reviewer_credential_opens_reviews(
    logged: CaptionServer, headers: dict[str, str], status: int, says: str | None
) -> None:
    for path in ("/review/", "/api/sessions", "/api/search?q=budget"):
        code, fields, body = await http_request(logged.port, "GET", path, headers)
        assert code == status, (path, body)
        if says is not None:
            assert says in json.loads(body)["message"]
            assert b"sessions" not in body
        if status == 401:
            assert fields["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/search?q=" + "x" * 201, 400),
        ("/api/search?q=%22)%20OR%201%3D1%20--", 200),
        ("/api/search?q=NEAR(a%20b)%20*%20%22", 200),
        ("/api/search", 400),
        ("/api/search?q=a&q=b", 400),
        ("/api/sessions?" + "room=a&" * 600, 400),
        ("/api/sessions?room=a%20b", 400),
        ("/api/sessions?from=2026-13-45", 400),
        ("/api/sessions?limit=0", 400),
        ("/api/sessions?limit=-1", 400),
        ("/api/sessions/../../etc/passwd", 404),
        ("/api/sessions/" + "0" * 32, 404),
        ("/api/sessions/" + "0" * 32 + "/export.exe", 404),
        ("/api/sessions/%2e%2e%2f%2e%2e%2fpyproject.toml", 404),
        ("/review/../../pyproject.toml", 404),
        ("/static/../pyproject.toml", 404),
        ("/static/..%2fpyproject.toml", 404),
    ],
)
async def test_hostile_requests_get_clear_errors(
    logged: CaptionServer, path: str, status: int
) -> None:
    code, _, body = await api(logged, path)
    assert code == status, body
    answer = json.loads(body)
    if status != 200:
        assert answer.get("message") or answer.get("error")
    assert b"[project]" not in body and b"root:" not in body
    code, _, _ = await http_request(logged.port, "GET", "/healthz")
    assert code == 200  # nothing broke


async def test_a_huge_request_is_refused_and_the_server_carries_on(logged: CaptionServer) -> None:
    code, _, _ = await api(logged, "/api/search?q=" + "y" * 20_000)
    assert code >= 400
    code, _, _ = await http_request(logged.port, "GET", "/healthz")
    assert code == 200


async def test_a_session_can_be_deleted_and_other_methods_are_refused(
    logged: CaptionServer,
) -> None:
    listener = client(logged, "gone", "Eve", token=JOIN)
    await listener.join()
    await listener.leave()
    assert logged.log is not None and await asyncio.to_thread(logged.log.flush)
    _, _, body = await api(logged, "/api/sessions?room=gone")
    [session] = json.loads(body)["sessions"]
    path = f"/api/sessions/{session['id']}"
    code, fields, _ = await api(logged, path, "POST", **BEARER)
    assert code == 405 and "DELETE" in fields["allow"]
    code, _, _ = await http_request(logged.port, "DELETE", path, {})
    assert code == 401
    code, _, body = await api(logged, path, "DELETE", **BEARER)
    assert code == 200 and json.loads(body) == {"deleted": session["id"]}
    code, _, _ = await api(logged, path)
    assert code == 404
    code, _, _ = await api(logged, path, "DELETE", **BEARER)
    assert code == 404
