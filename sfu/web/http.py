"""The HTTP surface on the signaling port: the participant page, /healthz, /metrics, the reviewer
surface (`review.py`) and the human captioner's (`captioner.py`).

websockets calls `process_request` for every HTTP request before its handshake; answering with a
Response serves plain HTTP, answering None lets `/ws` upgrade. A request's body was read before
(`bodies.py`). A method a path does not serve is answered 405 with `Allow`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from sfu.metrics import ServerMetrics
from sfu.web import captioner, review
from sfu.web.auth import AuthEndpoints
from sfu.web.bodies import body_of
from sfu.web.responses import json_response, not_allowed, response, static_file


class HttpHost(review.ReviewHost, captioner.CaptionerHost, Protocol):
    """What the HTTP routes need of the server that serves them."""

    auth: AuthEndpoints | None
    metrics: ServerMetrics

    def health(self) -> dict[str, Any]: ...


def make_process_request(
    server: HttpHost,
) -> Callable[[ServerConnection, Request], Awaitable[Response | None]]:
    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        body = body_of(connection)
        if path == "/ws":
            if body.body is not None or body.error is not None:
                return json_response(HTTPStatus.BAD_REQUEST, {"error": "a handshake has no body"})
            return None
        if captioner.is_captioner_path(path):
            return await captioner.handle(server, request, body)
        if review.is_review_path(path):
            return await review.handle(server, request, body)
        if path.startswith("/auth/"):
            if server.auth is not None:
                return await server.auth.handle(request)
            if path == "/auth/config":  # the page asks every server whether to offer sign-in
                return json_response(HTTPStatus.OK, {"sign_in": False})
            return json_response(HTTPStatus.NOT_FOUND, {"error": "not found", "path": "/auth/"})
        if request.method != "GET":
            return not_allowed(request.method, ["GET"])
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
