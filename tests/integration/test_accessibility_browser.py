"""Issue 21's pages in real browsers against the real server: a human captioner typing in the
captioner page (Chromium) while participants read in another Chromium and in Firefox ESR, in both
display modes and by their own choice; words the engine was unsure of underlined on the
participant page (a setting) and highlighted on the review page, exactly those a scripted engine
gave a low confidence.

A Python participant speaks (the scripted engine captions any audio) and another, who chose to see
every caption, tells when automatic captions came that a page in the other mode must not show."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from access import (
    CAPTIONER_GRANTS,
    DEFAULT_GRANTS,
    Grant,
    KeyRing,
    SigningKey,
)
from access.config import AccessConfig
from captionlog.log import LogConfig
from client import CaptionClient, WavTrack
from client.audio import RATE
from protocol import CaptionChoice, CaptionSources
from protocol.captions import serialize_channel_message
from sfu.config import ServerConfig
from sfu.server import CaptionServer

from .browser_pages import TIMEOUT_MS, MeetingPage, chromium_args, require_chromium
from .conftest import ws_url
from .firefox import PREFS, Firefox, require_firefox
from .minting import room_token
from .scripted import UNSURE, ScriptedEngine, automatic_since

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.browser]

KEY = SigningKey("k1", b"a" * 32)
REVIEWER = "review-secret"
UNDERLINE = (
    'localStorage.setItem("livecaptions.settings.v1", JSON.stringify({underlineUncertain: true}));'
)
# When each human line appeared in the page's caption area, by text (the benchmark's measure).
# The page's last status: the first one says its captions channel is open.
STATUS = """
window.__status = null;
document.addEventListener("livecaptions:status", (e) => { window.__status = e.detail; });
"""
WATCH_HUMAN = """
window.__human = {};
new MutationObserver(() => {
  for (const p of document.querySelectorAll('#captions p[data-source="human"]')) {
    const text = p.querySelector('.text').textContent;
    if (!(text in window.__human)) window.__human[text] = Date.now() / 1000;
  }
}).observe(document, {childList: true, subtree: true, characterData: true});
"""


def token(room: str, identity: str, grants: frozenset[Grant] = CAPTIONER_GRANTS) -> str:
    return room_token(KeyRing((KEY,)), room, identity, grants)


@dataclass
class Browsers:
    captioner: Any  # Chromium: the captioner's
    participant: Any  # another Chromium: participants' and reviewers'
    firefox: Firefox


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CaptionServer]:
    config = ServerConfig(
        port=0,
        log=LogConfig(
            path=tmp_path_factory.mktemp("a11y") / "captions.db", reviewer_token=REVIEWER
        ),
        access=AccessConfig(keys=KeyRing((KEY,))),
    )
    server = CaptionServer(config, engine_factory=lambda _: ScriptedEngine(period=2.0))
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browsers() -> AsyncIterator[Browsers]:
    from playwright.async_api import async_playwright

    chromium = require_chromium()
    require_firefox()
    args = chromium_args(None, grant_microphone=False)
    async with async_playwright() as p:
        captioner = await p.chromium.launch(executable_path=chromium, args=args)
        participant = await p.chromium.launch(executable_path=chromium, args=args)
        firefox = await Firefox.launch(PREFS)
        try:
            yield Browsers(captioner, participant, firefox)
        finally:
            for browser in (captioner, participant, firefox):
                await browser.close()


def base(server: CaptionServer) -> str:
    return f"http://127.0.0.1:{server.port}"


def speaker(server: CaptionServer, room: str) -> CaptionClient:
    """Ada, whose audio the scripted engine captions every 2 s."""
    audio = WavTrack(np.full(RATE, 0.01, np.float32), loop=True)
    grants = token(room, "ada", DEFAULT_GRANTS)
    return CaptionClient(ws_url(server), room=room, name="Ada", audio=audio, token=grants)


async def participant(
    browser: Any, server: CaptionServer, room: str, name: str, *scripts: str
) -> MeetingPage:
    context = await browser.new_context()
    page = await MeetingPage.open(context, base(server), "", (STATUS, *scripts))
    await page.join(room, name, token=token(room, name, DEFAULT_GRANTS), listen_only=True)
    await page.wait_in_room()
    # Captions go out once the captions channel is open, which its first status tells.
    await page.page.wait_for_function("window.__status !== null", timeout=TIMEOUT_MS)
    return page


async def test_uncertain_words_are_marked_on_the_page_and_in_the_review(
    server: CaptionServer, browsers: Browsers
) -> None:
    ada = speaker(server, "uncertain")
    await ada.join()
    pages = []
    try:
        marked = await participant(browsers.participant, server, "uncertain", "carol", UNDERLINE)
        plain = await participant(browsers.firefox, server, "uncertain", "dan")
        pages = [marked, plain]
        for page in pages:
            await page.page.wait_for_function(
                "window.__captions.filter((c) => c.final).length >= 2", timeout=TIMEOUT_MS
            )
        underlined = await marked.page.evaluate(
            """[...document.querySelectorAll('#captions p[data-final="true"]')].map((p) =>
                [...p.querySelectorAll('.text .uncertain')].map((s) => s.textContent))"""
        )
        shown = await plain.page.evaluate(
            "document.querySelectorAll('#captions .uncertain').length"
        )
        partial = await marked.page.evaluate("window.__captions.find((c) => !c.final)")
    finally:
        for page in pages:
            await page.page.context.close()
        await ada.leave()
    assert underlined and all(words == list(UNSURE) for words in underlined), underlined
    assert shown == 0  # the setting is off by default
    assert [(w["text"], w["confidence"]) for w in partial["words"]] == [
        ("We", 0.96),
        ("approved", 0.31),
    ]

    context = await browsers.participant.new_context(
        http_credentials={"username": "reviewer", "password": REVIEWER}
    )
    try:
        review = await context.new_page()
        await review.goto(f"{base(server)}/review/")
        await review.fill("#room", "uncertain")
        await review.click("#filter button")
        await review.locator("#sessions tbody tr").first.click()
        rows = review.locator("#transcript tbody tr[data-segment]")
        await rows.first.wait_for()
        marks = await review.evaluate(
            """[...document.querySelectorAll('#transcript tbody tr')].map((tr) =>
                [...tr.querySelectorAll('mark.uncertain')].map((m) => m.textContent))"""
        )
        quality = await review.inner_text("#quality")
    finally:
        await context.close()
    assert marks and all(words == list(UNSURE) for words in marks), marks
    assert f"{2 * len(marks)} of {4 * len(marks)} scored words" in quality


async def test_a_captioner_types_and_participants_read_human_captions_in_both_modes(
    server: CaptionServer, browsers: Browsers
) -> None:
    room = "board"
    ada = speaker(server, room)
    eve = CaptionClient(
        ws_url(server), room=room, name="Eve", token=token(room, "eve", DEFAULT_GRANTS)
    )
    await ada.join()
    await eve.join()
    eve.send_channel(serialize_channel_message(CaptionSources(CaptionChoice.BOTH)))
    context = await browsers.captioner.new_context()
    pages: list[MeetingPage] = []
    try:
        captioner = await context.new_page()
        link = f"{base(server)}/captioner/?room={room}&token={token(room, 'cy', CAPTIONER_GRANTS)}"
        await captioner.goto(link)
        assert await captioner.input_value("#name") == "Cy"  # from the token
        await captioner.click("#join")
        await captioner.wait_for_function(
            "document.getElementById('status').dataset.state === 'in-room'", timeout=TIMEOUT_MS
        )
        await captioner.wait_for_function("document.getElementById('mode-instead').checked")
        # The captioner hears the room: Ada's packets rise on its page.
        await captioner.wait_for_function(
            """async () => {
                const before = await window.captioner.inboundAudioPackets();
                await new Promise((r) => setTimeout(r, 1000));
                return (await window.captioner.inboundAudioPackets()) > before + 10;
            }""",
            timeout=TIMEOUT_MS,
            polling=250,
        )
        chromium = await participant(browsers.participant, server, room, "carol", WATCH_HUMAN)
        firefox = await participant(browsers.firefox, server, room, "dan", WATCH_HUMAN)
        pages = [chromium, firefox]

        async def type_line(text: str) -> float:
            await captioner.click("#line")
            await captioner.keyboard.type(text)
            await captioner.keyboard.press("Enter")
            await captioner.wait_for_function(
                "(t) => [...document.querySelectorAll('#sent li')].some((li) =>"
                " li.dataset.state === 'sent' && li.textContent === t)",
                arg=text,
                timeout=TIMEOUT_MS,
            )
            return time.time()

        async def shows(page: MeetingPage, text: str) -> None:
            await page.page.wait_for_function(
                "(t) => t in window.__human", arg=text, timeout=TIMEOUT_MS, polling=100
            )

        # Instead (the room's default): the captioner's line, marked, and no new automatic one.
        sent = await type_line("Welcome to the board meeting.")
        for page in pages:
            await shows(page, "Welcome to the board meeting.")
            await page.page.wait_for_function(
                "!document.getElementById('human-captioner').hidden", timeout=TIMEOUT_MS
            )
        label = await chromium.page.inner_text('#captions p[data-source="human"] .speaker')
        notice = await firefox.page.inner_text("#human-captioner")
        await eve.wait_for(lambda: len(automatic_since(eve, sent)) >= 2, 20)
        for page in pages:
            started = await automatic_started_after(page, "Welcome to the board meeting.")
            assert started == [], "automatic captions shown"

        # Beside: the automatic captions come back at once, next to the captioner's.
        await captioner.check("#mode-beside")
        for page in pages:
            await page.page.wait_for_function(
                "document.getElementById('human-captioner').dataset.mode === 'beside'",
                timeout=TIMEOUT_MS,
            )
        switched = time.time()
        await type_line("Item one: the budget.")
        for page in pages:
            await shows(page, "Item one: the budget.")
            await page.page.wait_for_function(
                "(after) => window.__captions.some((c) => c.source !== 'human' && c.final"
                " && c.receivedAt > after)",
                arg=switched,
                timeout=TIMEOUT_MS,
            )

        # A participant who chooses the automatic captions only gets no more human lines.
        await chromium.page.click("#settings summary")
        await chromium.page.select_option("#caption-sources", "automatic")
        await chromium.page.wait_for_function(
            "document.getElementById('caption-sources').dataset.applied === 'automatic'",
            timeout=TIMEOUT_MS,
        )
        await type_line("Item two: the calendar.")
        await shows(firefox, "Item two: the calendar.")
        await eve.wait_for(
            lambda: any(c.text == "Item two: the calendar." for c in eve.finals()), 10
        )
        seen = await chromium.page.evaluate("Object.keys(window.__human)")
    finally:
        for page in pages:
            await page.page.context.close()
        await context.close()
        await ada.leave()
        await eve.leave()
    assert label == "Captioner:" and "instead of the automatic captions" in notice
    assert "Item two: the calendar." not in seen


async def automatic_started_after(page: MeetingPage, line: str) -> list[str]:
    """The automatic segments `page` first received after the captioner's `line`. Captions of both
    sources come in order on one ordered data channel, so this needs no timing margin (a margin of
    0.2 s after the captioner saw its line acknowledged failed once in CI: a caption the server had
    sent before the line reached a loaded page later than that)."""
    seen: set[str] = set()
    after_line = False
    started: list[str] = []
    for caption in await page.captions():
        if caption.get("source") == "human":
            after_line = after_line or caption["text"] == line
        elif caption["segment"] not in seen:
            seen.add(caption["segment"])
            if after_line:
                started.append(caption["segment"])
    assert after_line, f"the page never received the line {line!r}"
    return started
