"""Pages of tiles in Chromium and Firefox ESR against a server that forwards one camera to each
participant (issue 22): the page turns with named buttons and says which page it shows, tells the
server which tiles it shows and which it pinned (`view`), shows the camera the server switched
to, and says so, with the name, on a tile whose camera is on but not forwarded now."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from client.camera import SyntheticCamera
from sfu.config import ServerConfig
from sfu.server import CaptionServer

from .browser_pages import (
    TIMEOUT_MS,
    MeetingPage,
    launched_chromium,
)
from .firefox import PREFS, Firefox, require_firefox
from .scripted import scripted_server
from .test_tiles_browser import OUT, listener, speaker, tile_of

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.browser]

ONE_PER_PAGE = (
    'localStorage.setItem("livecaptions.settings.v1", JSON.stringify({tilesPerPage: "1"}));'
)
VIEWS = """
window.__views = [];
document.addEventListener("livecaptions:view", (e) => { window.__views.push(e.detail); });
"""


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server() -> AsyncIterator[CaptionServer]:
    config = ServerConfig(port=0, max_subscriber_video=1)
    async with scripted_server(1.5, config) as server:
        yield server


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def chromium() -> AsyncIterator[Any]:
    async with launched_chromium() as browser:
        yield browser


async def shows_picture_of(page: MeetingPage, participant: str) -> None:
    """Until `participant`'s tile is on the page shown, the server says it forwards that
    camera, and frames of it decode (more than when the server said so)."""
    await page.page.wait_for_function(
        """(id) => { const t = document.querySelector(`#tiles .tile[data-key="${id}"]`);
            const v = t?.querySelector('video');
            return t.dataset.offPage === 'false' && t.dataset.forwarded === 'true'
                && v && !v.hidden; }""",
        arg=participant,
        timeout=TIMEOUT_MS,
    )
    await page.wait_for_video_from([participant])


async def pages_pins_and_tiles_not_forwarded(
    browser: Any, server: CaptionServer, room: str, screenshot: Path | None = None
) -> None:
    """The whole story, in `browser` (Playwright's Chromium, or `Firefox`: the API both have)."""
    others = [speaker(server, room, name, camera=SyntheticCamera()) for name in ("Ada", "Bob")]
    for other in others:
        await other.join()
        await other.set_media(camera=True)
    ada, bob = (o.joined.participant if o.joined else "" for o in others)
    page = await listener(
        browser,
        server,
        room,
        "Carol",
        ONE_PER_PAGE,
        VIEWS,
        viewport={"width": 1280, "height": 800},
    )
    p = page.page
    try:
        await p.wait_for_function(
            "document.querySelectorAll('#tiles .tile').length === 3", timeout=TIMEOUT_MS
        )
        assert await p.evaluate("!document.getElementById('pager').hidden")
        assert await p.get_attribute("#page-previous", "aria-label") == "Previous page of people"
        assert await p.get_attribute("#page-next", "aria-label") == "Next page of people"
        assert await disabled(p, "#page-previous")
        me = await page.participant_id()
        keys = await p.evaluate(
            "[...document.querySelectorAll('#tiles .tile')].map((t) => t.dataset.key)"
        )
        for number, key in enumerate(keys, start=1):  # page by page, one tile each
            if number > 1:
                if number == 2:
                    await p.click("#page-next")
                else:
                    await p.evaluate("document.getElementById('page-next').focus()")  # keyboard
                    await p.keyboard.press("Enter")
            assert await p.inner_text("#page-number") == f"Page {number} of 3"
            view = await p.evaluate("window.__views.at(-1)")
            # The server is asked for the cameras on the page shown: nobody's on one's own page.
            assert view == {"pinned": [], "visible": [] if key == me else [key]}
            if key != me:  # the one section the server sends switches to this camera
                await shows_picture_of(page, key)
        assert await disabled(p, "#page-next")

        pin = f'#tiles .tile[data-key="{ada}"] .pin'
        for _ in range(2):  # back to Ada's page
            if (await tile_of(page, ada))["offPage"] == "false":
                break
            await p.click("#page-previous")
        await p.click(pin)  # Ada large, on every page; Carol and Bob paged
        assert await p.get_attribute(pin, "aria-pressed") == "true"
        for _ in range(2):  # to Bob's page
            if (await tile_of(page, bob))["offPage"] == "false":
                break
            await p.click("#page-previous" if await disabled(p, "#page-next") else "#page-next")
        assert (await p.inner_text("#page-number")).endswith("of 2")
        assert await p.evaluate("window.__views.at(-1)") == {"pinned": [ada], "visible": [bob]}
        await shows_picture_of(page, ada)
        # One camera a subscriber: the pinned one. Bob's tile shows his name and says why.
        await p.wait_for_function(
            """(id) => document.querySelector(`#tiles .tile[data-key="${id}"]`)
                ?.dataset.forwarded === 'false'""",
            arg=bob,
            timeout=TIMEOUT_MS,
        )
        bobs = await tile_of(page, bob)
        state = await p.inner_text(f'#tiles .tile[data-key="{bob}"] .tile-state')
        name = await p.inner_text(f'#tiles .tile[data-key="{bob}"] .tile-name')
        assert bobs["camera"] == "off" and bobs["offPage"] == "false" and bobs["height"] > 0
        assert name == "Bob" and "not shown now" in state
        assert (await tile_of(page, ada))["large"] == "true"
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            await p.screenshot(path=str(screenshot))
    finally:
        await page.page.context.close()
        for other in others:
            await other.leave()


async def disabled(p: Any, selector: str) -> bool:
    return await p.get_attribute(selector, "disabled") is not None


async def test_pages_of_tiles_pins_and_tiles_without_a_forwarded_camera_in_chromium(
    server: CaptionServer, chromium: Any
) -> None:
    await pages_pins_and_tiles_not_forwarded(
        chromium, server, "pages", screenshot=OUT / "pages-1280x800.png"
    )


async def test_pages_of_tiles_in_firefox(server: CaptionServer) -> None:
    require_firefox()
    firefox = await Firefox.launch(PREFS)
    try:
        await pages_pins_and_tiles_not_forwarded(firefox, server, "pages-firefox")
    finally:
        await firefox.close()
