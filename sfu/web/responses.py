"""HTTP responses of the server's plain-HTTP surface: JSON, the files it ships, security headers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from http import HTTPStatus
from importlib import resources

from websockets.datastructures import Headers
from websockets.http11 import Response

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
    # websockets closes the connection after a plain HTTP response: say so, so that a browser
    # retrying (e.g. with credentials after a 401) opens a new one instead of reusing this one.
    headers["Connection"] = "close"
    return Response(status.value, status.phrase, headers, body)


def json_response(status: HTTPStatus, value: object) -> Response:
    return response(status, json.dumps(value).encode(), "application/json")


def error(status: HTTPStatus, code: str, message: str, **headers: str) -> Response:
    """The APIs' refusal: `{"error": CODE, "message": SENTENCE}`, with extra headers
    (`Retry_After=` gives `Retry-After`)."""
    reply = json_response(status, {"error": code, "message": message})
    for name, value in headers.items():
        reply.headers[name.replace("_", "-")] = value
    return reply


def rate_limited(message: str, wait: float) -> Response:
    """429: `message` and when to retry (RFC 6585 section 4)."""
    return error(
        HTTPStatus.TOO_MANY_REQUESTS,
        "rate-limited",
        f"{message}; retry in {wait:.1f} s",
        Retry_After=str(max(1, round(wait))),
    )


def not_allowed(method: str, allowed: Iterable[str]) -> Response:
    """405, with the methods the path serves in `Allow` (RFC 9110 section 15.5.6)."""
    methods = ", ".join(allowed)
    return error(
        HTTPStatus.METHOD_NOT_ALLOWED,
        "method-not-allowed",
        f"{method} is not allowed here; use {methods}",
        Allow=methods,
    )


def static_file(name: str) -> Response:
    suffix = name[name.rfind(".") :] if "." in name else ""
    files = resources.files("sfu.web") / "static"
    names = {entry.name for entry in files.iterdir()}
    if name not in names or suffix not in STATIC_TYPES:  # only files we ship, by exact name
        return json_response(HTTPStatus.NOT_FOUND, {"error": "not found"})
    return response(HTTPStatus.OK, (files / name).read_bytes(), STATIC_TYPES[suffix])
