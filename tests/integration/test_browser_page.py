"""The participant page as people use it, in real headless Chromium and Firefox ESR against the
real server: several browsers of both kinds in one room, rejoins, listen-only, errors in words,
healing after a server restart, the caption display on a phone, and an accessibility audit. Three
Chromium processes (two fake microphones playing different speakers, one whose microphone
permission is refused) and two Firefox processes (one whose microphone plays Bob's words, one that
refuses the microphone) serve every test through separate contexts."""

from __future__ import annotations

import asyncio
import io
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
    loop_samples,
    require_chromium,
    write_loop,
)
from .conftest import client, until
from .firefox import PREFS, REFUSED_MICROPHONE, Firefox, fake_microphone, require_firefox

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.browser]

REVIEWER = "review-secret"


@dataclass
class Browsers:
    ada: Any  # its microphone says Ada's clip
    bob: Any  # its microphone says Bob's clip
    denied: Any  # nobody grants its microphone permission
    firefox: Firefox  # Firefox ESR; its microphone says Bob's clip
    firefox_denied: Firefox  # Firefox ESR where the person refuses the microphone
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
    require_firefox()
    bob_loop = loop_samples(speech["bob"][0], period)
    async with async_playwright() as p:
        launched = await asyncio.gather(
            p.chromium.launch(executable_path=chromium, args=chromium_args(ada)),
            p.chromium.launch(executable_path=chromium, args=chromium_args(bob)),
            p.chromium.launch(
                executable_path=chromium, args=chromium_args(None, grant_microphone=False)
            ),
        )
        firefoxes = await asyncio.gather(
            Firefox.launch(PREFS, init_scripts=(fake_microphone(bob_loop, RATE),)),
            Firefox.launch(PREFS, init_scripts=(REFUSED_MICROPHONE,)),
        )
        try:
            yield Browsers(
                *launched, *firefoxes, texts={"Ada": speech["ada"][1], "Bob": speech["bob"][1]}
            )
        finally:
            for browser in [*launched, *firefoxes]:
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
            if code == "unavailable":  # may pass: the page keeps trying until Leave
                assert await page.page.get_attribute("#status", "data-state") == "reconnecting"
                await page.leave()
            else:  # the person must act: the form is back, the microphone off
                await page.page.wait_for_selector("#join:enabled")
                assert await page.page.get_attribute("#status", "data-state") == "disconnected"
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
    readers = {
        "Dana": await open_page(browsers.denied, server),
        "Fay": await open_page(browsers.firefox_denied, server),
    }
    try:
        await ada.join("deny", "Ada")
        for name, reader in readers.items():
            await reader.join("deny", name)
            notice = await reader.wait_for_notice()
            assert "did not allow the microphone" in notice, (name, notice)
        ada_id = await ada.participant_id()
        for name, reader in readers.items():
            await reader.wait_in_room()
            await reader.wait_for_audio_from({"Ada"})
            await reader.wait_for_video_from([ada_id])  # and see her (issue 19)
            await reader.wait_for_words("Ada", browsers.texts["Ada"])
            assert name in await ada.page.inner_text("#participants")
            assert not await reader.is_visible("#microphone"), name
    finally:
        await close(ada, *readers.values())


async def test_two_people_of_one_name_are_told_apart(
    server: CaptionServer, browsers: Browsers
) -> None:
    first = await open_page(browsers.denied, server)
    second = await open_page(browsers.denied, server)
    try:
        await first.join("twins", "Sam", listen_only=True)
        await first.wait_in_room()
        await second.join("twins", "Sam", listen_only=True)
        await second.wait_in_room()
        await first.page.locator("#events li", has_text="Sam (2) joined").wait_for()
        for page in (first, second):
            labels = await page.page.evaluate(
                "window.livecaptions.participants().map((p) => p.label)"
            )
            assert sorted(labels) == ["Sam", "Sam (2)"]
        assert await first.page.locator("#participants li", has_text="Sam (you)").count() == 1
        assert await second.page.locator("#participants li", has_text="Sam (2) (you)").count() == 1
        await second.leave()
        await first.page.locator("#events li", has_text="Sam (2) left").wait_for()
    finally:
        await close(first, second)


async def test_a_storm_of_joins_and_leaves_shows_everyone_and_is_announced_in_a_line(
    server: CaptionServer, browsers: Browsers
) -> None:
    """The page asks for joins and leaves in batches (`participants`): eight people joining at
    once are all listed, and announced in one line rather than eight (a screen reader reads each
    line of #events); then they leave at once."""
    page = await open_page(browsers.denied, server)
    guests = [client(server, "storm-page", f"Guest {i}") for i in range(8)]
    try:
        await page.join("storm-page", "Host", listen_only=True)
        await page.wait_in_room()
        await asyncio.gather(*(guest.join_without_media() for guest in guests))
        names = "window.livecaptions.participants().map((p) => p.name).sort().join(',')"
        everyone = ",".join(sorted(["Host", *(g.name for g in guests)]))
        await page.page.wait_for_function(f"{names} === {everyone!r}", timeout=TIMEOUT_MS)
        await page.wait_for_event("others joined")  # one batch here: "Guest 0, Guest 1 and 6 …"
        await asyncio.gather(*(guest.leave() for guest in guests))
        await page.page.wait_for_function(f"{names} === 'Host'", timeout=TIMEOUT_MS)
        await page.wait_for_event("others left")
        listed = await page.page.locator("#participants li").count()
        assert listed == 1
    finally:
        await asyncio.gather(*(guest.close() for guest in guests))
        await close(page)


# --- a real meeting -----------------------------------------------------------------------------


async def expect_everyone(
    pages: dict[str, MeetingPage],
    speakers: set[str],
    texts: dict[str, str],
    after: float,
    captioned: set[str] | None = None,
) -> None:
    """Every page receives audio from every other speaker and shows the words (named) that each
    speaker in `captioned` (all of them by default) said after `after`."""
    for name, page in pages.items():
        others = speakers - {name}
        await page.wait_for_audio_from(others)
        for speaker in others & (speakers if captioned is None else captioned):
            await page.wait_for_words(speaker, texts[speaker], after=after)
        # The speaker's name is on the caption elements on screen too (data-speaker).
        shown = await page.transcript_speakers()
        assert others <= set(shown), (name, shown)


async def test_chromium_and_firefox_in_one_room_hear_and_read_everyone_through_rejoins(
    server: CaptionServer, browsers: Browsers
) -> None:
    """A Chromium speaker, a Firefox speaker and a Firefox listener, then a late Chromium
    listener; the Firefox speaker leaves and rejoins three times and is heard and captioned after
    each rejoin (issue 18: a rejoining Firefox was never heard again)."""
    pages = {
        "Ada": await open_page(browsers.ada, server),  # Chromium
        "Bob": await open_page(browsers.firefox, server),  # Firefox
        "Carol": await open_page(browsers.firefox, server),  # Firefox, "join without microphone"
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
        # Cameras on (issue 19): Chromium decodes Firefox's camera and Firefox Chromium's.
        ada, bob = await pages["Ada"].participant_id(), await pages["Bob"].participant_id()
        await pages["Ada"].wait_for_video_from([bob])
        await pages["Bob"].wait_for_video_from([ada])

        pages["Dave"] = await open_page(browsers.bob, server)  # late, listening too (Chromium)
        await pages["Dave"].join("meet", "Dave", listen_only=True)
        await pages["Dave"].wait_in_room()
        await expect_everyone(pages, speakers, texts, await pages["Dave"].now())

        for _ in range(3):
            await pages["Bob"].leave()
            await pages["Ada"].wait_for_event("Bob left")
            await pages["Ada"].wait_until_words_end()
            await pages["Bob"].join("meet", "Bob")
            await pages["Bob"].wait_in_room()
            # Everyone hears everyone; what a rejoin could break is Bob's captions (and Ada's
            # words, a loop period away, were already read by every page).
            rejoined = await pages["Bob"].now()
            await expect_everyone(pages, speakers, texts, rejoined, captioned={"Bob"})
            await pages["Ada"].wait_for_video_from([await pages["Bob"].participant_id()])
        carol = await pages["Carol"].page.inner_text("#participants")
        listed = set(carol.replace(" · speaking", "").split("\n"))
        assert {"Ada", "Bob", "Dave", "Carol (you)"} <= listed
    finally:
        await close(*pages.values())


async def test_a_firefox_joining_a_room_of_two_hears_and_is_heard_every_time(
    server: CaptionServer, browsers: Browsers, speech: dict[str, tuple[np.ndarray, str]]
) -> None:
    """Ten joins in a row of a warm Firefox into a room of two (3 in 8 used to work)."""
    ada = await speaker_in(server, "ten-joins", speech["ada"][0])
    bob = await speaker_in(server, "ten-joins", speech["bob"][0], name="Bob")
    try:
        for attempt in range(10):
            page = await open_page(browsers.firefox, server)
            try:
                await page.join("ten-joins", "Fiona")
                await page.wait_in_room()
                await page.wait_for_audio_from({"Ada", "Bob"})
                fiona = await page.participant_id()
                for listener in (ada, bob):
                    before = listener.frames_from.get(fiona, 0)
                    await until(
                        lambda listener=listener, before=before, fiona=fiona: (
                            listener.frames_from.get(fiona, 0) >= before + 25
                        ),
                        TIMEOUT_MS / 1000,
                        f"{listener.name} to hear Firefox",
                    )
            except Exception as exc:
                raise AssertionError(f"join {attempt + 1} of Firefox: {exc!r}") from exc
            finally:
                await page.leave()
                await close(page)
    finally:
        await ada.leave()
        await bob.leave()


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


async def diagnose(pages: dict[str, MeetingPage], server: CaptionServer) -> str:
    """What each page and the server's rooms hold, for a failure message."""
    seen = {
        name: await page.page.evaluate(
            "(async () => ({state: window.livecaptions.state, states: window.__states,"
            " level: document.getElementById('level').value,"
            " audio: await window.livecaptions.inboundAudio(),"
            " people: window.livecaptions.participants()}))()"
        )
        for name, page in pages.items()
    }
    rooms = {
        room.name if hasattr(room, "name") else key: [
            (p.name, p.packet_tap is not None) for p in room.participants.values()
        ]
        for key, room in server.rooms.items()
    }
    return f"pages: {seen}; server rooms: {rooms}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_pages_rejoin_by_themselves_after_a_server_restart(
    browsers: Browsers, tmp_path: Path
) -> None:
    """A Chromium and a Firefox speaker, a Firefox listener refused the microphone: after the
    server restarts, every page is back in the room and shows new captions without a click."""
    port = free_port()
    first = CaptionServer(config(tmp_path, port=port))
    await first.start()
    pages = {
        "Ada": await open_page(browsers.ada, first),
        "Bob": await open_page(browsers.firefox, first),
        "Fay": await open_page(browsers.firefox_denied, first),
    }
    others = {"Ada": "Bob", "Bob": "Ada", "Fay": "Ada"}
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
                try:
                    other = others[name]
                    await page.wait_for_words(other, browsers.texts[other], after=restarted)
                except AssertionError as exc:
                    raise AssertionError(f"{exc}; {await diagnose(pages, second)}") from exc
            # Cameras are back too (issue 19): each page decodes the speakers' cameras again.
            ids = {name: await page.participant_id() for name, page in pages.items()}
            for name, page in pages.items():
                await page.wait_for_video_from([ids[n] for n in ("Ada", "Bob") if n != name])
        finally:
            await close(*pages.values())
            await second.stop()
    finally:
        await first.stop()


# --- the caption display ------------------------------------------------------------------------


async def speaker_in(
    server: CaptionServer, room: str, speech: np.ndarray, name: str = "Ada"
) -> Any:
    """A Python participant saying `speech` over and over, a pause after each time."""
    pause = np.zeros(round(LEAD * RATE), np.float32)
    looped = WavTrack(np.concatenate([speech, pause]), loop=True)
    speaker = client(server, room, name, audio=looped)
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


# In the page: what a download button would save, without saving it.
DOWNLOADED = """async (button) => {
    const made = [];
    const create = URL.createObjectURL, click = HTMLAnchorElement.prototype.click;
    URL.createObjectURL = (blob) => { made.push(blob); return create.call(URL, blob); };
    HTMLAnchorElement.prototype.click = function () { made.push(this.download); };
    try { document.getElementById(button).click(); }
    finally { URL.createObjectURL = create; HTMLAnchorElement.prototype.click = click; }
    return [made[1], await made[0].text()];
}"""


async def test_settings_transcript_downloads_and_flags_work_in_firefox(
    server: CaptionServer, browsers: Browsers, speech: dict[str, tuple[np.ndarray, str]]
) -> None:
    """What the Chromium tests check of the page, in Firefox: settings kept over a reload, the
    remote speaker marked, subtitles off and on with C, transcript search and downloads, and a
    flag sent with its reason."""
    import webvtt

    speaker = await speaker_in(server, "fx-page", speech["report"][0])
    page = await open_page(browsers.firefox_denied, server)
    try:
        await page.page.click("#settings summary")
        await page.page.select_option("#caption-size", "xl")
        await page.page.select_option("#caption-colors", "yellow-black")
        await page.page.reload()
        assert await page.page.input_value("#caption-size") == "xl"
        assert await page.page.get_attribute("#caption-area", "data-colors") == "yellow-black"
        assert not await page.is_visible("#support")  # Firefox ESR has all the page uses

        await page.join("fx-page", "Chloe", listen_only=True)
        await page.page.wait_for_function(
            "document.querySelectorAll('#transcript li').length >= 2", timeout=TIMEOUT_MS
        )
        # Who speaks, from getStats()' audioLevel of the forwarded track, as in Chromium.
        await page.page.wait_for_function(
            "document.querySelector('#participants li[data-speaking=true]')?.textContent"
            ".startsWith('Ada')",
            timeout=TIMEOUT_MS,
        )
        await page.page.click("#subtitles")
        assert not await page.is_visible("#caption-area")
        await page.page.keyboard.press("c")  # focus is on the checkbox: not a text field
        await page.page.wait_for_function(
            "document.querySelector('#captions [data-segment]') !== null", timeout=TIMEOUT_MS
        )

        finals = [c["text"] for c in await page.captions() if c["final"] and c["text"]]
        name, vtt_text = await page.page.evaluate(DOWNLOADED, "download-vtt")
        vtt = webvtt.from_buffer(io.StringIO(vtt_text))
        assert name == "captions-fx-page.vtt"
        assert [cue.text for cue in vtt][: len(finals)] == finals
        assert all(cue.voice == "Ada" for cue in vtt)
        word = finals[0].split()[0]
        await page.page.fill("#transcript-search", word)
        shown = await page.page.evaluate(
            "[...document.querySelectorAll('#transcript li')]"
            ".filter((li) => li.checkVisibility()).map((li) => li.textContent)"
        )
        assert shown and all(word.lower() in line.lower() for line in shown)
        await page.page.fill("#transcript-search", "")

        await page.page.click("#transcript li .flag-entry")
        await page.page.fill("#flag-reason", "wrong name")
        await page.page.click("#flag-send")
        await page.page.wait_for_function(
            "document.getElementById('flag-result').textContent.includes('Thank you')",
            timeout=TIMEOUT_MS,
        )
        assert await page.page.inner_text("#status") == "In room fx-page"
    finally:
        await close(page)
        await speaker.leave()


async def test_the_page_says_what_a_browser_lacks_and_the_rest_works(
    server: CaptionServer, browsers: Browsers, speech: dict[str, tuple[np.ndarray, str]]
) -> None:
    """A browser without WebAudio (as an old ESR may lack an API): the page says what is lost
    instead of failing silently, and the meeting works without it."""
    speaker = await speaker_in(server, "lacking", speech["report"][0])
    context = await browsers.firefox_denied.new_context()
    page = await MeetingPage.open(
        context, base(server), init_scripts=("delete window.AudioContext;",)
    )
    try:
        assert await page.is_visible("#support")
        said = await page.page.inner_text("#support")
        assert "cannot show your microphone level" in said, said
        await page.join("lacking", "Chloe")  # the microphone is refused: it listens
        await page.wait_in_room()
        await page.wait_for_words("Ada", speech["report"][1])
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


async def download(page: MeetingPage, button: str) -> str:
    async with page.page.expect_download() as info:
        await page.page.click(button)
    return Path(await (await info.value).path()).read_text()


async def transcript_downloads_and_search(page: MeetingPage) -> None:
    """The transcript downloads as text and as WebVTT with every final shown, and filters."""
    import webvtt

    finals = [c["text"] for c in await page.captions() if c["final"] and c["text"]]
    text = await download(page, "#download-text")
    vtt = webvtt.from_buffer(io.StringIO(await download(page, "#download-vtt")))
    assert all(final in text for final in finals), (finals, text)
    assert [cue.text for cue in vtt][: len(finals)] == finals
    assert all(cue.voice == "Ada" for cue in vtt)
    word = finals[0].split()[0]
    await page.page.fill("#transcript-search", word)
    shown = await page.page.locator("#transcript li:visible").all_inner_texts()
    assert shown and all(word.lower() in line.lower() for line in shown)
    await page.page.fill("#transcript-search", "zzzz-no-such-word")
    assert await page.page.locator("#transcript li:visible").count() == 0


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
        await page.page.fill("#flag-reason", "wrong name")
        await page.page.click("#flag-send")
        await page.page.wait_for_selector("#flag-result:has-text('Thank you')")
        assert await page.page.inner_text("#status") == "In room audit"
        await transcript_downloads_and_search(page)

        await reviewer.page.goto(f"{base(server)}/review/")
        await reviewer.page.wait_for_selector("#sessions tbody tr", timeout=TIMEOUT_MS)
        assert await serious_violations(reviewer.page) == []
    finally:
        await close(page, reviewer)
        await speaker.leave()
