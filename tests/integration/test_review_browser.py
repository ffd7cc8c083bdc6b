"""The reviewer pages in a real headless Chromium: list, open a session, search, download."""

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import webvtt

from captionlog.log import LogConfig
from captionlog.store import CaptionStore
from sfu.config import ServerConfig
from sfu.server import CaptionServer

from ..captionlog.conftest import seed
from .test_browser import CHROMIUM

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.browser]

TOKEN = "review-secret"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def reviewed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CaptionServer]:
    db = tmp_path_factory.mktemp("review") / "captions.db"
    store = CaptionStore(db)
    seed(store)
    store.close()
    server = CaptionServer(ServerConfig(port=0, log=LogConfig(path=db, reviewer_token=TOKEN)))
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        launched = await p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        await launched.close()


async def review_page(browser: Any, base: str) -> Any:
    """A reviewer's own browser context (the static token as Basic password) on /review/."""
    context = await browser.new_context(
        http_credentials={"username": "reviewer", "password": TOKEN}, accept_downloads=True
    )
    page = await context.new_page()
    await page.goto(f"{base}/review/")
    return page


async def test_a_reviewer_finds_reads_and_exports_a_meeting(
    reviewed: CaptionServer, browser: Any, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    base = f"http://127.0.0.1:{reviewed.port}"
    page = await review_page(browser, base)
    row = page.locator("#sessions tbody tr")
    await expect(row).to_have_count(1)
    await expect(row.first).to_contain_text("standup")

    await row.first.click()
    transcript = page.locator("#transcript tbody tr")
    await expect(transcript).to_have_count(4)
    await expect(transcript.first).to_contain_text("Good morning everyone.")
    await expect(transcript.nth(1)).to_have_class("flagged")
    await expect(page.locator("#quality")).to_contain_text("Flagged by participants")
    await expect(page.locator("#latency-plot polyline")).to_have_count(1)

    await page.fill("#query", "budget")
    await page.click("#search button")
    hit = page.locator("#hits li")
    await expect(hit).to_have_count(1)
    await expect(hit.first).to_contain_text("[budget]")
    await hit.first.locator("a").click()
    await expect(page.locator("#session-title")).to_contain_text("standup")

    async with page.expect_download() as info:
        await page.click("#exports a[data-format=vtt]")
    download = await info.value
    assert download.suggested_filename.startswith("standup-")
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    cues = webvtt.from_buffer(io.StringIO(saved.read_text()))
    assert [c.voice for c in cues] == ["Ada", "Ada", "Bob", None]


async def test_two_reviewers_correct_one_caption_and_the_second_is_told_of_the_conflict(
    reviewed: CaptionServer, browser: Any
) -> None:
    from playwright.async_api import expect

    base = f"http://127.0.0.1:{reviewed.port}"
    pages = []
    for _ in range(2):  # two reviewers, each with the session open at revision 0
        page = await review_page(browser, base)
        await page.locator("#sessions tbody tr").first.click()
        await expect(page.locator("#transcript tbody tr")).to_have_count(4)
        pages.append(page)
    rows = [page.locator("#transcript tbody tr").nth(2) for page in pages]
    texts = ("That is great news.", "That was great news.")
    for row, text in zip(rows, texts, strict=True):
        await row.locator("button.edit").click()
        await row.locator(".edit-text").fill(text)
    await rows[0].locator(".edit-note").fill("no markup was said")
    await rows[0].locator("button.save").click()
    await expect(pages[0].locator("#history tbody tr")).to_have_count(1)
    await expect(rows[0]).to_have_attribute("data-corrected", "true")
    await expect(rows[0].locator(".was")).to_contain_text("<news> & more")

    await rows[1].locator("button.save").click()
    await expect(rows[1].locator(".conflict")).to_contain_text("That is great news.")
    await expect(rows[1].locator(".edit-text")).to_have_value("That was great news.")
    await expect(pages[1].locator("#history tbody tr")).to_have_count(2)
    outcomes = await pages[1].eval_on_selector_all(
        "#history tbody tr", "(rows) => rows.map((r) => r.dataset.outcome)"
    )
    # Confirming another caption as right counts it as reviewed, unchanged.
    first = pages[1].locator("#transcript tbody tr").first
    await first.locator("button.confirm").click()
    await expect(pages[1].locator("#history tbody tr")).to_have_count(3)
    await expect(pages[1].locator("#quality")).to_contain_text("2 reviewed caption(s)")
    assert outcomes == ["applied", "conflict"]
