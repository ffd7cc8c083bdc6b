"""Reviewers' corrections through the real server's API, on loopback: PATCH with a JSON body,
revisions and conflicts, the history with who corrected, exports as corrected and as captioned,
405 with Allow for methods a path does not serve, and bodies the API cannot take."""

import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from access import Grant, KeyRing, SigningKey
from access.config import AccessConfig
from captionlog.log import LogConfig
from captionlog.store import CaptionStore
from sfu.config import ServerConfig
from sfu.server import CaptionServer

from ..captionlog.conftest import seed
from .conftest import http_request
from .minting import room_token
from .scripted import ScriptedEngine

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY = SigningKey("k1", b"k" * 32)
STATIC = {"Authorization": "Bearer static-review-secret"}
SESSION = "a" * 32
BUDGET = "room%231-1"  # room#1-1, "The budget for next year is approved." (Ada)


def reviewer(identity: str, room: str = "*") -> dict[str, str]:
    token = room_token(KeyRing((KEY,)), room, identity, frozenset({Grant.REVIEW}))
    return {"Authorization": f"Bearer {token}"}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CaptionServer]:
    db = tmp_path_factory.mktemp("corrections") / "captions.db"
    store = CaptionStore(db)
    seed(store)
    store.close()
    config = ServerConfig(
        port=0,
        log=LogConfig(path=db, reviewer_token="static-review-secret"),
        access=AccessConfig(keys=KeyRing((KEY,))),
    )
    server = CaptionServer(config, engine_factory=lambda _: ScriptedEngine())
    await server.start()
    yield server
    await server.stop()


async def api(
    server: CaptionServer,
    method: str,
    path: str,
    body: object = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], dict]:
    raw = json.dumps(body).encode() if body is not None else None
    extra = {"Content-Type": "application/json"} if raw is not None else {}
    status, head, reply = await http_request(
        server.port, method, path, {**(headers or STATIC), **extra}, raw
    )
    return status, head, json.loads(reply) if head.get("content-type") == "application/json" else {}


async def patch(server: CaptionServer, body: object, headers: dict[str, str] | None = None):
    return await api(server, "PATCH", f"/api/sessions/{SESSION}/segments/{BUDGET}", body, headers)


async def test_one_reviewer_wins_the_other_gets_a_conflict_and_exports_follow(
    server: CaptionServer,
) -> None:
    rita, sam = reviewer("rita@example.org"), reviewer("sam@example.org")
    first = {"text": "The budget for next year was approved.", "rev": 0, "note": "tense"}
    status, _, body = await patch(server, first, rita)
    assert (status, body["rev"], body["outcome"]) == (200, 1, "applied")
    status, _, body = await patch(server, {"text": "The budget is approved.", "rev": 0}, sam)
    assert status == 409 and body["error"] == "conflict"
    assert (body["rev"], body["text"]) == (1, first["text"])
    assert "revision 1, not 0" in body["message"]

    status, _, detail = await api(server, "GET", f"/api/sessions/{SESSION}")
    segment = detail["segments"][1]
    assert (segment["rev"], segment["corrected"], segment["text"]) == (1, True, first["text"])
    assert segment["original_text"] == "The budget for next year is approved."
    assert not detail["segments"][0]["corrected"] and detail["segments"][0]["rev"] == 0
    assert [(c["author"], c["outcome"]) for c in detail["corrections"]] == [
        ("rita@example.org", "applied"),
        ("sam@example.org", "conflict"),
    ]

    _, head, vtt = await http_request(
        server.port, "GET", f"/api/sessions/{SESSION}/export.vtt", STATIC
    )
    assert b"was approved" in vtt and b"is approved" not in vtt
    _, head, original = await http_request(
        server.port, "GET", f"/api/sessions/{SESSION}/export.vtt?original=1", STATIC
    )
    assert b"is approved" in original and b"was approved" not in original
    assert "-original.vtt" in head["content-disposition"]
    _, _, exported = await http_request(
        server.port, "GET", f"/api/sessions/{SESSION}/export.json", STATIC
    )
    history = json.loads(exported)["corrections"]
    assert [c["outcome"] for c in history] == ["applied", "conflict"]
    status, _, body = await api(server, "GET", f"/api/sessions/{SESSION}/export.txt?original=2")
    assert status == 400 and "original must be 0 or 1" in body["message"]

    # The static reviewer token corrects too, under its own name; the quality report counts it.
    status, _, body = await patch(server, {"text": first["text"], "rev": 1, "speaker": "Ada L."})
    assert status == 200 and body["speaker"] == "Ada L."
    _, _, report = await api(server, "GET", f"/api/sessions/{SESSION}/quality")
    assert report["accuracy"]["reviewed"] == 1 and report["accuracy"]["errors"] == 1
    assert report["corrections"][-1]["author"] == "reviewer-token"


async def test_a_method_the_api_does_not_serve_is_answered_405_with_allow(
    server: CaptionServer,
) -> None:
    for method, path, allow in [
        ("PATCH", "/api/sessions", "GET"),
        ("POST", f"/api/sessions/{SESSION}", "GET, DELETE"),
        ("GET", f"/api/sessions/{SESSION}/segments/{BUDGET}", "PATCH"),
        ("PUT", "/api/search?q=x", "GET"),
        ("POST", "/review/", "GET"),
        ("POST", "/healthz", "GET"),
        ("GET", "/auth/token", "POST"),
        ("DELETE", "/api/rooms/standup/captions", "POST"),
    ]:
        status, head, _ = await http_request(server.port, method, path, STATIC, b"{}")
        assert (status, head.get("allow")) == (405, allow), (method, path)


async def test_what_the_api_cannot_take_is_refused_precisely_and_changes_nothing(
    server: CaptionServer,
) -> None:
    url = f"/api/sessions/{SESSION}/segments/{BUDGET}"
    cases = [
        (None, {}, 400, "needs a JSON body"),
        (b"not json", {}, 400, "not JSON"),
        (b'{"text": "x", "rev": 0, "who": "me"}', {}, 400, "unknown field 'who'"),
        (b'{"text": "\\ud83d", "rev": 0}', {}, 400, "not valid Unicode"),
        (b"x" * 70_000, {}, 413, "over 64 KiB"),
        (b"5\r\nhello\r\n0\r\n\r\n", {"Transfer-Encoding": "chunked"}, 411, "Content-Length"),
    ]
    for body, headers, expected, message in cases:
        headers = {**STATIC, **headers}
        status, _, reply = await http_request(server.port, "PATCH", url, headers, body)
        assert status == expected and message in json.loads(reply)["message"], (status, reply)
    missing = f"/api/sessions/{SESSION}/segments/room%231-99"
    status, _, reply = await api(server, "PATCH", missing, {"text": "x", "rev": 0})
    assert status == 404 and "no segment" in reply["message"]
    not_utf8 = url.replace(BUDGET, "%ff")
    status, _, reply = await api(server, "PATCH", not_utf8, {"text": "", "rev": 0})
    assert status == 400 and "UTF-8" in reply["message"]
    # A reviewer of another room does not see this session, let alone correct it.
    status, _, _ = await patch(server, {"text": "x", "rev": 0}, reviewer("olga", room="other"))
    assert status == 404
    _, _, detail = await api(server, "GET", f"/api/sessions/{SESSION}")
    assert [c for c in detail["corrections"] if c["text_after"] == "x"] == []


async def test_corrections_are_rate_limited_per_reviewer(server: CaptionServer) -> None:
    flood = reviewer("flood@example.org")
    body = {"text": "Good morning everyone.", "rev": 10_000}  # stale: refused, but counted
    path = f"/api/sessions/{SESSION}/segments/room%231-0"
    statuses = [(await api(server, "PATCH", path, body, flood))[0] for _ in range(60)]
    assert statuses[:50] == [409] * 50 and 429 in statuses[50:]
    status, head, _ = await api(server, "PATCH", path, body, flood)
    assert status == 429 and int(head["retry-after"]) >= 1
    # Another reviewer is not held back.
    status, _, _ = await api(server, "PATCH", path, body, reviewer("calm@example.org"))
    assert status == 409
