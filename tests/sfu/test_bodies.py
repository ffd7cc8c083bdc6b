"""Request bodies read before websockets sees the request, sans I/O."""

from http import HTTPStatus

from sfu.web.bodies import BodySplitter

HEAD = b"PATCH /api/x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"


def test_a_body_is_kept_and_websockets_gets_the_head_alone() -> None:
    splitter = BodySplitter()
    assert splitter.feed(HEAD) == b""  # held back until the body is in
    assert splitter.continue_needed  # the client waits for it before sending the body
    assert splitter.feed(b"hel") == b""
    assert splitter.feed(b"lo") == b"PATCH /api/x HTTP/1.1\r\nHost: h\r\n\r\n"
    assert splitter.body == b"hello" and splitter.error is None
    assert splitter.feed(b"more") == b""  # nothing follows a request websockets answers


def test_a_websocket_handshake_passes_untouched_with_its_frames() -> None:
    splitter = BodySplitter()
    handshake = b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n"
    assert splitter.feed(handshake[:10]) == b""
    assert splitter.feed(handshake[10:] + b"\x81\x05frame") == handshake + b"\x81\x05frame"
    assert splitter.feed(b"\x81\x01x") == b"\x81\x01x" and splitter.body is None


def test_bodies_it_cannot_take_are_errors_for_the_http_layer() -> None:
    for head, status in [
        (b"POST / HTTP/1.1\r\nContent-Length: 99999\r\n\r\n", HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", HTTPStatus.LENGTH_REQUIRED),
        (b"POST / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n", HTTPStatus.BAD_REQUEST),
    ]:
        splitter = BodySplitter(max_body=1024)
        assert splitter.feed(head + b"x" * 10) == b"POST / HTTP/1.1\r\n\r\n"
        assert splitter.error is not None and splitter.error.status is status
