"""Single sign-on through the page, against a real, independent OpenID Connect provider
(`oidc-provider-mock`: Flask and Authlib's server side) on loopback, in real headless Chromium.

A person signs in through the provider's own authorization page, comes back with a room token,
and joins a trusted room under the name the provider gave; a person who did not sign in is
refused the same room, and a signed-in person not listed for a restricted room is told so. The
provider's group claim makes the signed-in person a reviewer, or a human captioner."""

import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from oidc_provider_mock import User, run_server_in_thread

from access.config import AccessConfig, OidcConfig
from access.rooms import RoomAccess, RoomPolicy, RoomRule
from captionlog.log import LogConfig
from sfu.config import ServerConfig
from sfu.server import CaptionServer

from .browser_pages import (
    TIMEOUT_MS,
    MeetingPage,
    launched_chromium,
)
from .conftest import http_request

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.browser]

ADA = User(sub="ada@example.org", claims={"name": "Ada Lovelace", "groups": ["reviewers"]})
CY = User(sub="cy@example.org", claims={"name": "Cy Typist", "groups": ["captioners"]})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with run_server_in_thread(
        require_client_registration=True, require_nonce=True, user_claims=[ADA, CY]
    ) as server:
        yield f"http://localhost:{server.server_port}"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server(
    provider: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[CaptionServer]:
    port = free_port()
    async with httpx.AsyncClient() as http:  # registered like any relying party would be
        reply = await http.post(
            f"{provider}/oauth2/clients",
            json={"redirect_uris": [f"http://127.0.0.1:{port}/auth/callback"]},
        )
        reply.raise_for_status()
        registered = reply.json()
    oidc = OidcConfig(
        issuer=provider,
        client_id=registered["client_id"],
        client_secret=registered["client_secret"],
        reviewer_claim="groups",
        reviewer_value="reviewers",
        captioner_value="captioners",
    )
    rooms = RoomPolicy(
        RoomAccess.PUBLIC,
        (
            RoomRule("staff-*", RoomAccess.TRUSTED),
            RoomRule("board", RoomAccess.RESTRICTED, frozenset({"bob@example.org"})),
        ),
    )
    config = ServerConfig(
        port=port,
        access=AccessConfig(oidc=oidc, rooms=rooms),  # no secret: a key for this run
        log=LogConfig(path=tmp_path_factory.mktemp("log") / "captions.db"),
    )
    server = CaptionServer(config)
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Any]:
    async with launched_chromium() as browser:
        yield browser


async def test_a_signed_in_person_joins_a_trusted_room_and_others_are_refused(
    server: CaptionServer,
    browser: Any,
) -> None:
    base = f"http://127.0.0.1:{server.port}"
    signed = await browser.new_context()
    ada = await MeetingPage.open(signed, base)
    await ada.page.fill("#room", "staff-weekly")
    await ada.page.click("#sign-in", timeout=TIMEOUT_MS)
    # The provider's own page: pick the user it knows.
    await ada.page.click(f"button[value='{ADA.sub}']", timeout=TIMEOUT_MS)
    await ada.page.wait_for_selector("#signed-in", timeout=TIMEOUT_MS)
    signed_in = await ada.page.inner_text("#signed-in")
    token = await ada.page.input_value("#token")
    name = await ada.page.input_value("#name")
    address = ada.page.url
    await ada.page.set_checked("#listen-only", True)
    await ada.page.click("#join")
    await ada.wait_in_room()
    inside = list(server.rooms["staff-weekly"].participants.values())

    stranger = await MeetingPage.open(await browser.new_context(), base)
    await stranger.join("staff-weekly", "Eve", listen_only=True)
    await stranger.page.wait_for_selector("#error:not([hidden])", timeout=TIMEOUT_MS)
    refused = await stranger.page.get_attribute("#error", "data-code")

    # Signed in, but not on the list of a restricted room: told so on the page.
    uninvited = await MeetingPage.open(await browser.new_context(), base)
    await uninvited.page.fill("#room", "board")
    await uninvited.page.click("#sign-in", timeout=TIMEOUT_MS)
    await uninvited.page.click(f"button[value='{ADA.sub}']", timeout=TIMEOUT_MS)
    await uninvited.page.wait_for_selector("#signin-error", timeout=TIMEOUT_MS)
    not_invited = await uninvited.page.inner_text("#signin-error")
    uninvited_token = await uninvited.page.input_value("#token")

    # An accessibility reviewer signs in to the caption log, from the page's link.
    reviewer = await MeetingPage.open(await browser.new_context(), base)
    await reviewer.page.click("#sign-in-review", timeout=TIMEOUT_MS)
    await reviewer.page.click(f"button[value='{ADA.sub}']", timeout=TIMEOUT_MS)
    await reviewer.page.wait_for_selector("#sessions tbody tr", timeout=TIMEOUT_MS)
    review_url = reviewer.page.url
    reviewed_rooms = await reviewer.page.eval_on_selector_all(
        "#sessions tbody tr td:first-child", "cells => cells.map(c => c.textContent)"
    )
    cookies = await reviewer.page.context.cookies()

    # Someone the provider knows, outside the reviewers' group: no caption log.
    outsider = await browser.new_page()
    await outsider.goto(f"{base}/auth/login?for=review")
    await outsider.fill("input[name='sub']", "bob@example.org", timeout=TIMEOUT_MS)
    await outsider.click("button:has-text('Authorize')")
    await outsider.wait_for_selector("#signin-error", timeout=TIMEOUT_MS)
    not_reviewer = await outsider.inner_text("#signin-error")
    outsider_cookies = await outsider.context.cookies()
    assert signed_in == "Signed in as Ada Lovelace" and name == "Ada Lovelace"
    assert address == f"{base}/?room=staff-weekly"  # the token left the address bar
    assert [(p.identity, p.name) for p in inside] == [("ada@example.org", "Ada Lovelace")]
    assert refused == "unauthorized"
    assert not_invited == (
        "You are signed in as ada@example.org, who is not invited to room board."
    )
    assert uninvited_token == ""
    assert review_url == f"{base}/review/" and "staff-weekly" in reviewed_rooms
    review_cookie = next(c for c in cookies if c["name"] == "livecaptions_review")
    assert review_cookie["httpOnly"] and review_cookie["sameSite"] == "Lax"
    assert not_reviewer == "You are signed in as bob@example.org, who is not a reviewer."
    assert not any(c["name"] == "livecaptions_review" for c in outsider_cookies)
    # The provider's group made Ada a reviewer: her room token opens the caption log.
    bearer = {"Authorization": f"Bearer {token}"}
    status, _, body = await http_request(server.port, "GET", "/api/sessions", bearer)
    assert status == 200 and "sessions" in json.loads(body)


async def test_a_callback_not_started_in_this_browser_is_refused(server: CaptionServer) -> None:
    status, headers, _ = await http_request(server.port, "GET", "/auth/login?room=staff-x")
    assert status == 302 and headers["location"].startswith("http://localhost:")
    assert "code_challenge_method=S256" in headers["location"]
    state = headers["location"].split("state=")[1].split("&")[0]
    # Same state, no cookie: another browser (login CSRF) gets nothing.
    status, _, body = await http_request(server.port, "GET", f"/auth/callback?code=x&state={state}")
    assert status == 400 and b"not started here" in body


async def test_a_member_of_the_captioners_group_signs_in_to_caption_a_room(
    server: CaptionServer,
    browser: Any,
) -> None:
    base = f"http://127.0.0.1:{server.port}"
    listener = await MeetingPage.open(await browser.new_context(), base)
    await listener.join("open-room", "Dan", listen_only=True)  # a public room
    await listener.wait_in_room()
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{base}/captioner/?room=open-room")
    await page.click("#sign-in", timeout=TIMEOUT_MS)
    await page.click(f"button[value='{CY.sub}']", timeout=TIMEOUT_MS)
    await page.wait_for_selector("#signed-in", timeout=TIMEOUT_MS)
    back = page.url
    name = await page.input_value("#name")
    await page.click("#join")
    await page.wait_for_function(
        "document.getElementById('mode-instead').checked", timeout=TIMEOUT_MS
    )
    await page.fill("#line", "Signed in and captioning.")
    await page.press("#line", "Enter")
    await listener.page.wait_for_function(
        "window.__captions.some((c) => c.source === 'human'"
        " && c.text === 'Signed in and captioning.')",
        timeout=TIMEOUT_MS,
    )
    # A reviewer who is no captioner is told so on the captioner page.
    other = await (await browser.new_context()).new_page()
    await other.goto(f"{base}/captioner/?room=open-room")
    await other.click("#sign-in", timeout=TIMEOUT_MS)
    await other.click(f"button[value='{ADA.sub}']", timeout=TIMEOUT_MS)
    await other.wait_for_selector("#signin-error", timeout=TIMEOUT_MS)
    refused = await other.inner_text("#signin-error")
    await listener.leave()
    assert back == f"{base}/captioner/?room=open-room" and name == "Cy Typist"
    assert refused == "You are signed in as ada@example.org, who is not a captioner."
