"""The HTTP surface on the signaling port."""

import json
import re

import pytest

from sfu.server import CaptionServer

from .conftest import http_request

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def get(server: CaptionServer, path: str) -> tuple[int, dict[str, str], bytes]:
    return await http_request(server.port, "GET", path)


async def test_page_is_served(server: CaptionServer) -> None:
    status, headers, body = await get(server, "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b'aria-live="polite"' in body and b"/static/app.js" in body
    status, headers, body = await get(server, "/static/app.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    # The page is ES modules: every module app.js imports is served, and opens the channel.
    modules = re.findall(rb'from "\./([a-z]+\.js)"', body)
    assert b"connection.js" in modules
    served = {name: await get(server, f"/static/{name.decode()}") for name in modules}
    assert all(status == 200 for status, _, _ in served.values())
    assert b'createDataChannel("captions")' in served[b"connection.js"][2]


async def test_healthz(server: CaptionServer) -> None:
    status, _, body = await get(server, "/healthz")
    health = json.loads(body)
    assert status == 200
    assert health["status"] == "ok" and health["engine"] == "whisper-base+tiny.en"
    assert {"en", "fr"} <= set(health["languages"])  # the multilingual engine


async def test_metrics_are_prometheus_text(server: CaptionServer) -> None:
    status, headers, body = await get(server, "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    text = body.decode()
    for name in (
        "livecaptions_rooms",
        "livecaptions_participants",
        "livecaptions_engine_step_seconds",
        "livecaptions_caption_latency_seconds",
    ):
        assert f"# TYPE {name}" in text


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/static/../sfu/server.py",
        "/static/%2e%2e/config.py",
        "/static/",
        "/static/index.html/../../etc/passwd",
    ],
)
async def test_unknown_paths_are_404(server: CaptionServer, path: str) -> None:
    status, _, body = await get(server, path)
    assert status == 404
    assert b"import" not in body
