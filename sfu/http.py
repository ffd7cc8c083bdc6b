"""The HTTP surface on the signaling port: the participant page, /healthz, /metrics.

websockets calls `process_request` for every HTTP request before its handshake; answering with a
Response serves plain HTTP, answering None lets `/ws` upgrade.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

if TYPE_CHECKING:
    from .server import CaptionServer

STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def response(status: HTTPStatus, body: bytes, content_type: str) -> Response:
    headers = Headers(
        {"Content-Type": content_type, "Content-Length": str(len(body)), **SECURITY_HEADERS}
    )
    return Response(status.value, status.phrase, headers, body)


def json_response(status: HTTPStatus, value: object) -> Response:
    return response(status, json.dumps(value).encode(), "application/json")


def static_file(name: str) -> Response:
    suffix = name[name.rfind(".") :] if "." in name else ""
    files = resources.files("sfu") / "static"
    names = {entry.name for entry in files.iterdir()}
    if name not in names or suffix not in STATIC_TYPES:  # only files we ship, by exact name
        return json_response(HTTPStatus.NOT_FOUND, {"error": "not found"})
    return response(HTTPStatus.OK, (files / name).read_bytes(), STATIC_TYPES[suffix])


def make_process_request(
    server: CaptionServer,
) -> Callable[[ServerConnection, Request], Response | None]:
    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path == "/ws":
            return None
        if path == "/":
            return static_file("index.html")
        if path.startswith("/static/"):
            return static_file(path.removeprefix("/static/"))
        if path == "/healthz":
            health = server.health()
            status = HTTPStatus.OK if health["status"] == "ok" else HTTPStatus.SERVICE_UNAVAILABLE
            return json_response(status, health)
        if path == "/metrics":
            return response(
                HTTPStatus.OK, server.metrics.render(), "text/plain; version=0.0.4; charset=utf-8"
            )
        return json_response(HTTPStatus.NOT_FOUND, {"error": "not found", "path": path[:200]})

    return process_request
