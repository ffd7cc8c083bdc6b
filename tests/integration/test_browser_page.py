"""The participant page as people use it, in real headless Chromium against the real server:
several browsers in one room, listen-only, errors in words, healing after a server restart, the
caption display on a phone, and an accessibility audit. Three Chromium processes (two fake
microphones playing different speakers, one whose microphone permission is refused) serve every
test through separate contexts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from captionlog.log import LogConfig
from client.audio import RATE, WavTrack
from sfu.config import ServerConfig
from sfu.server import CaptionServer

from .browser_pages import (
    LEAD,
    TIMEOUT_MS,
    MeetingPage,
    chromium_args,
    require_chromium,
    write_loop,
)
from .conftest import client

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.browser]

REVIEWER = "review-secret"


@dataclass
class Browsers:
    ada: Any  # its microphone says Ada's clip
    bob: Any  # its microphone says Bob's clip
    denied: Any  # nobody grants its microphone permission
    texts: dict[str, str]


def config(tmp: Path, **kwargs: Any) -> ServerConfig:
    return ServerConfig(
        log=LogConfig(path=tmp / "captions.db", reviewer_token=REVIEWER),
        **kwargs,
    )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CaptionServer]:
    server = CaptionServer(config(tmp_path_factory.mktemp("page"), port=0))
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browsers(
    speech: dict[str, tuple[np.ndarray, str]], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Browsers]:
    from playwright.async_api import async_playwright

    chromium = require_chromium()
    tmp = tmp_path_factory.mktemp("wav")
    # One period for both loops, long enough for Bob's words to fit in Ada's silence: a page
    # that opens Bob's microphone just after Ada's words (`wait_until_words_end`) never talks
    # over her, in a room captioned as one mixed stream (the default).
    period = LEAD * 4 + (len(speech["ada"][0]) + len(speech["bob"][0])) / RATE + 1.5
    ada = write_loop(tmp / "ada.wav", speech["ada"][0], period)
    bob = write_loop(tmp / "bob.wav", speech["bob"][0], period)
    async with async_playwright() as p:
        launched = await asyncio.gather(
            p.chromium.launch(executable_path=chromium, args=chromium_args(ada)),
            p.chromium.launch(executable_path=chromium, args=chromium_args(bob)),
            p.chromium.launch(
                executable_path=chromium, args=chromium_args(None, grant_microphone=False)
            ),
        )
        try:
            yield Browsers(*launched, texts={"Ada": speech["ada"][1], "Bob": speech["bob"][1]})
        finally:
            for browser in launched:
                await browser.close()


def base(server: CaptionServer) -> str:
    return f"http://127.0.0.1:{server.port}"


async def open_page(browser: Any, server: CaptionServer, **kwargs: Any) -> MeetingPage:
    context = await browser.new_context(**kwargs)
    return await MeetingPage.open(context, base(server))


async def close(*pages: MeetingPage) -> None:
    for page in pages:
        await page.page.context.close()


# --- errors people understand -----------------------------------------------------------------


async def test_refused_joins_are_explained_in_words(browsers: Browsers, tmp_path: Path) -> None:
    """unauthorized, room-full and unavailable, each shown as a sentence that says what to do."""
    guarded = CaptionServer(
        config(tmp_path, port=0, participant_token="let-me-in", max_participants=1, max_rooms=1)
    )
    await guarded.start()
    first = client(guarded, "full", "Eve", token="let-me-in")
    page = None
    try:
        await first.join()
        page = await open_page(browsers.ada, guarded)
        expected = {
            ("other", ""): ("unauthorized", "valid access token"),
            ("full", "let-me-in"): ("room-full", "This room is full"),
            ("other", "let-me-in"): ("unavailable", "keeps trying by itself"),
        }
        for (room, token), (code, words) in expected.items():
            await page.join(room, "Chloe", token=token, listen_only=True)
            error = page.page.locator(f"#error[data-code='{code}']")
            await error.wait_for(state="visible", timeout=TIMEOUT_MS)
            shown = await error.inner_text()
            assert words in shown and code not in shown  # a sentence, not the raw code
            await page.leave()
    finally:
        if page is not None:
            await close(page)
        await first.leave()
        await guarded.stop()


async def test_an_invitation_link_fills_room_and_token(
    server: CaptionServer, browsers: Browsers
) -> None:
    context = await browsers.ada.new_context()
    page = await MeetingPage.open(context, base(server), "?room=weekly-review&token=abc%20123")
    try:
        assert await page.page.input_value("#room") == "weekly-review"
        assert await page.page.input_value("#token") == "abc 123"
        assert await page.page.evaluate("document.activeElement.id") == "name"
        assert await page.page.locator("#signin-area").count() == 1
    finally:
        await close(page)


# --- listen-only ------------------------------------------------------------------------------


async def test_a_browser_denied_the_microphone_hears_and_reads_the_others(
    server: CaptionServer, browsers: Browsers
) -> None:
    ada = await open_page(browsers.ada, server)
    reader = await open_page(browsers.denied, server)
    try:
        await ada.join("deny", "Ada")
        await reader.join("deny", "Dana")
        await reader.page.locator("#notice").wait_for(state="visible", timeout=TIMEOUT_MS)
        assert "did not allow the microphone" in await reader.page.inner_text("#notice")
        await reader.wait_in_room()
        await reader.wait_for_audio_from({"Ada"})
        await reader.wait_for_words("Ada", browsers.texts["Ada"])
        assert "Dana" in await ada.page.inner_text("#participants")
        assert await reader.page.locator("#microphone").is_hidden()
    finally:
        await close(ada, reader)


# --- a real meeting -----------------------------------------------------------------------------


async def expect_everyone(
    pages: dict[str, MeetingPage], speakers: set[str], texts: dict[str, str], after: float
) -> None:
    """Every page receives audio from every other speaker and shows each one's words, named."""
    for name, page in pages.items():
        others = speakers - {name}
        await page.wait_for_audio_from(others)
        for speaker in others:
            await page.wait_for_words(speaker, texts[speaker], after=after)
        # The speaker's name is on the caption elements on screen too (data-speaker).
        shown = await page.page.eval_on_selector_all(
            "#transcript [data-speaker]", "els => els.map(e => e.dataset.speaker)"
        )
        assert others <= set(shown), (name, shown)


async def test_three_browsers_then_a_fourth_and_a_rejoin_hear_and_read_every_speaker(
    server: CaptionServer, browsers: Browsers
) -> None:
    pages = {
        "Ada": await open_page(browsers.ada, server),
        "Bob": await open_page(browsers.bob, server),
        "Carol": await open_page(browsers.ada, server),  # listens: "join without microphone"
    }
    texts, speakers = browsers.texts, {"Ada", "Bob"}
    try:
        for name, page in pages.items():
            if name == "Bob":
                await pages["Ada"].wait_until_words_end()
            await page.join("meet", name, listen_only=name == "Carol")
            await page.wait_in_room()
        start = await pages["Ada"].now()
        await expect_everyone(pages, speakers, texts, start)

        pages["Dave"] = await open_page(browsers.bob, server)  # late, listening too
        await pages["Dave"].join("meet", "Dave", listen_only=True)
        await pages["Dave"].wait_in_room()
        await expect_everyone(pages, speakers, texts, await pages["Dave"].now())

        await pages["Bob"].leave()
        await (
            pages["Ada"]
            .page.locator("#events li", has_text="Bob left")
            .wait_for(timeout=TIMEOUT_MS)
        )
        await pages["Ada"].wait_until_words_end()
        await pages["Bob"].join("meet", "Bob")
        await pages["Bob"].wait_in_room()
        await expect_everyone(pages, speakers, texts, await pages["Bob"].now())
        carol = await pages["Carol"].page.inner_text("#participants")
        listed = set(carol.replace(" · speaking", "").split("\n"))
        assert {"Ada", "Bob", "Dave", "Carol (you)"} <= listed
    finally:
        await close(*pages.values())


async def test_leave_stops_the_microphone(server: CaptionServer, browsers: Browsers) -> None:
    page = await open_page(browsers.bob, server)
    try:
        await page.join("audit", "Bob")
        await page.wait_in_room()
        await page.page.wait_for_function(
            "document.getElementById('level').value > 0", timeout=TIMEOUT_MS
        )
        await page.leave()
        await page.page.wait_for_function(
            "window.livecaptions.microphoneLive === false", timeout=TIMEOUT_MS
        )
        assert await page.page.evaluate("window.livecaptions.state") == "disconnected"
    finally:
        await close(page)


# --- healing ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_pages_rejoin_by_themselves_after_a_server_restart(
    browsers: Browsers, tmp_path: Path
) -> None:
    port = free_port()
    first = CaptionServer(config(tmp_path, port=port))
    await first.start()
    pages = {
        "Ada": await open_page(browsers.ada, first),
        "Bob": await open_page(browsers.bob, first),
    }
    try:
        for name, page in pages.items():
            if name == "Bob":
                await pages["Ada"].wait_until_words_end()
            await page.join("restart", name)
            await page.wait_in_room()
        await pages["Bob"].wait_for_words("Ada", browsers.texts["Ada"])
        await first.stop()
        for page in pages.values():
            await page.page.wait_for_function(
                "window.__states.includes('reconnecting')", timeout=TIMEOUT_MS
            )
        restarted = await pages["Ada"].now()
        second = CaptionServer(config(tmp_path, port=port))
        await second.start()
        try:
            for name, page in pages.items():
                await page.wait_in_room()
                other = "Bob" if name == "Ada" else "Ada"
                await page.wait_for_words(other, browsers.texts[other], after=restarted)
        finally:
            await close(*pages.values())
            await second.stop()
    finally:
        await first.stop()


# --- the caption display ------------------------------------------------------------------------


async def speaker_in(server: CaptionServer, room: str, speech: np.ndarray) -> Any:
    """A Python participant saying `speech` over and over, a pause after each time."""
    pause = np.zeros(round(LEAD * RATE), np.float32)
    looped = WavTrack(np.concatenate([speech, pause]), loop=True)
    speaker = client(server, room, "Ada", audio=looped)
    await speaker.join()
    return speaker


ON_SCREEN = """([selector]) => {
    const w = window.innerWidth, h = window.innerHeight;
    const r = document.querySelector(selector).getBoundingClientRect();
    return r.width > 0 && r.left >= 0 && r.top >= 0 && r.right <= w && r.bottom <= h;
}"""

UNCOVERED = """(element) => {
    const r = element.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return r.left >= 0 && r.right <= window.innerWidth && r.top >= 0
        && r.bottom <= window.innerHeight && (hit === element || element.contains(hit)
        || (hit !== null && hit.contains(element)));
}"""


async def test_caption_settings_survive_a_reload_and_fit_a_phone(
    server: CaptionServer, browsers: Browsers, speech: dict[str, tuple[np.ndarray, str]]
) -> None:
    speaker = await speaker_in(server, "phone", speech["report"][0])
    page = await open_page(browsers.ada, server, viewport={"width": 390, "height": 844})
    try:
        await page.page.click("#settings summary")
        await page.page.select_option("#caption-size", "xl")
        await page.page.select_option("#caption-colors", "yellow-black")
        await page.page.select_option("#caption-position", "top")
        await page.page.reload()
        await page.page.click("#settings summary")
        for select, value in [("size", "xl"), ("colors", "yellow-black"), ("position", "top")]:
            assert await page.page.input_value(f"#caption-{select}") == value
            assert await page.page.get_attribute("#caption-area", f"data-{select}") == value
        await page.page.select_option("#caption-position", "bottom")

        await page.join("phone", "Chloe", listen_only=True)
        await page.page.wait_for_function(
            "document.querySelectorAll('#captions [data-final=true]').length >= 2",
            timeout=TIMEOUT_MS,
        )
        # The newest line of text (the last line box of the newest caption) is inside the
        # three-line area, which is inside the screen: older lines roll up and out at the top.
        assert await page.page.evaluate(ON_SCREEN, ["#captions"])
        line, area = await page.page.evaluate(
            """() => {
                const range = document.createRange();
                range.selectNodeContents(document.querySelector("#captions > p:last-child"));
                const last = [...range.getClientRects()].at(-1);
                const box = document.getElementById("captions").getBoundingClientRect();
                return [[last.top, last.bottom], [box.top, box.bottom]];
            }"""
        )
        assert area[0] - 1 <= line[0] and line[1] <= area[1] + 1, (line, area)
        assert area[1] - area[0] < 844 / 4  # three lines, not a growing box
        # Every control can be reached on screen and is not hidden under the captions.
        controls = page.page.locator(
            "header button:visible, main button:visible, main input:visible, "
            "main select:visible, #flag"
        )
        for i in range(await controls.count()):
            control = controls.nth(i)
            await control.scroll_into_view_if_needed()
            described = await control.evaluate("e => e.id || e.outerHTML.slice(0, 60)")
            assert await control.evaluate(UNCOVERED), described

        # Subtitles off: every caption leaves the screen at once; "c" brings them back.
        await page.page.click("#subtitles")
        assert await page.page.locator("#captions [data-segment]").count() == 0
        assert await page.page.locator("#caption-area").is_hidden()
        await page.page.keyboard.press("c")  # focus is on the checkbox: not a text field
        assert await page.page.is_checked("#subtitles")
        await page.page.wait_for_selector("#captions [data-segment]", timeout=TIMEOUT_MS)
    finally:
        await close(page)
        await speaker.leave()


# --- accessibility ------------------------------------------------------------------------------


async def serious_violations(page: Any) -> list[str]:
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page)
    return [
        f"{v['id']}: {v['help']} ({[n['target'] for n in v['nodes']][:3]})"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def test_no_serious_accessibility_violation(
    server: CaptionServer, browsers: Browsers, speech: dict[str, tuple[np.ndarray, str]]
) -> None:
    speaker = await speaker_in(server, "audit", speech["report"][0])
    page = await open_page(browsers.ada, server)
    reviewer = await open_page(
        browsers.ada, server, http_credentials={"username": "reviewer", "password": REVIEWER}
    )
    try:
        assert await serious_violations(page.page) == []  # before joining
        await page.join("audit", "Chloe", listen_only=True)
        await page.page.wait_for_selector("#transcript li", timeout=TIMEOUT_MS)
        await page.page.click("#settings summary")
        await page.page.click("#transcript li .flag-entry")
        assert await serious_violations(page.page) == []  # in a meeting, flag dialog open
        await page.page.click("#flag-send")
        await page.page.wait_for_selector("#flag-result:has-text('Thank you')")
        assert await page.page.inner_text("#status") == "In room audit"

        await reviewer.page.goto(f"{base(server)}/review/")
        await reviewer.page.wait_for_selector("#sessions tbody tr", timeout=TIMEOUT_MS)
        assert await serious_violations(reviewer.page) == []
    finally:
        await close(page, reviewer)
        await speaker.leave()
