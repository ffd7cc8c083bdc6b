"""Drive the participant page in real headless browsers: Chromium's launch flags and fake
microphones fed from WAVs (Firefox's are in `firefox.py`), and a `MeetingPage` that joins, leaves
and reads what the page shows through its documented hooks (docs/protocol-notes.md, "Page hooks"),
in Chromium (Playwright) and Firefox (`firefox.FirefoxPage`) alike: it asks of a page only what
both implement."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from client.audio import RATE
from client.speech import normalize_text

CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 120_000  # 2 shared cores, Whisper and several browsers: be generous

# Recorded in every page before its scripts run (and again after a reload): every caption the page
# accepted and showed, with the time it arrived.
RECORD_CAPTIONS = """
window.__captions = [];
window.__states = [];
window.__joined = null;
document.addEventListener("livecaptions:caption", (e) => window.__captions.push(
    {...e.detail.caption, receivedAt: e.detail.receivedAt, clockOrigin: e.detail.clockOrigin}));
document.addEventListener("livecaptions:state", (e) => window.__states.push(e.detail.state));
document.addEventListener("livecaptions:joined", (e) => { window.__joined = e.detail; });
"""


def require_chromium() -> str:
    if shutil.which(CHROMIUM) is None:
        pytest.fail("Chromium is not installed: apt-get install chromium")
    return CHROMIUM


def chromium_args(wav: Path | None, *, grant_microphone: bool = True) -> list[str]:
    """Flags seen working here (DESIGN.md). Without `grant_microphone` Chromium keeps its fake
    device but nobody answers the permission prompt: the page's getUserMedia is refused."""
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--use-fake-device-for-media-stream",
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--autoplay-policy=no-user-gesture-required",
    ]
    if grant_microphone:
        args.append("--use-fake-ui-for-media-stream")
    if wav is not None:
        args.append(f"--use-file-for-fake-audio-capture={wav}")
    return args


@contextlib.asynccontextmanager
async def launched_chromium(wav: Path | None = None) -> AsyncIterator[Any]:
    """A headless Chromium with `chromium_args(wav)`, closed on the way out (a module's browser
    fixture yields it)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=require_chromium(), args=chromium_args(wav)
        )
        try:
            yield browser
        finally:
            await browser.close()


LEAD = 1.5  # seconds of silence before the words in every looped WAV


def loop_samples(pcm: np.ndarray, period: float | None = None) -> np.ndarray:
    """What a fake microphone loops: 1.5 s of silence, the words, then silence up to `period`
    seconds (48 kHz mono float32)."""
    total = round((period or LEAD * 2 + len(pcm) / RATE) * RATE)
    loop = np.zeros(total, np.float32)
    start = round(LEAD * RATE)
    loop[start : start + len(pcm)] = pcm
    return loop


def write_loop(path: Path, pcm: np.ndarray, period: float | None = None) -> Path:
    """A WAV Chromium loops as its microphone from the moment the page opens it (48 kHz mono
    16-bit; `loop_samples`)."""
    sf.write(path, loop_samples(pcm, period), RATE, subtype="PCM_16")
    return path


def overlap(shown: str, expected: str) -> float:
    """Share of the expected words found in what was shown."""
    want = set(normalize_text(expected).split())
    return len(want & set(normalize_text(shown).split())) / max(1, len(want))


class MeetingPage:
    """One participant page."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url

    @classmethod
    async def open(
        cls, context: Any, base_url: str, query: str = "", init_scripts: tuple[str, ...] = ()
    ) -> MeetingPage:
        page = await context.new_page()
        for script in (RECORD_CAPTIONS, *init_scripts):
            await page.add_init_script(script)
        await page.goto(f"{base_url}/{query}")
        return cls(page, base_url)

    async def join(
        self,
        room: str,
        name: str,
        *,
        token: str = "",
        listen_only: bool = False,
        camera: bool | None = None,
    ) -> None:
        """`camera`: tick or untick "join with camera"; by default a page joining without
        microphone joins without camera too (a listener), any other keeps the page's default."""
        await self.page.fill("#room", room)
        await self.page.fill("#name", name)
        await self.page.fill("#token", token)
        await self.page.set_checked("#listen-only", listen_only)
        if camera is None and listen_only:
            camera = False
        if camera is not None:  # after the page's own default (is there a camera?) is set
            await self.page.wait_for_function(
                "document.getElementById('camera').dataset.ready === 'true'", timeout=TIMEOUT_MS
            )
            await self.page.set_checked("#camera", camera)
        await self.page.click("#join")

    async def wait_in_room(self) -> None:
        try:
            await self.page.wait_for_function(
                "window.livecaptions.state === 'in-room'", timeout=TIMEOUT_MS
            )
        except Exception as exc:  # say where the page got stuck
            seen = await self.page.evaluate(
                "({name: document.getElementById('name').value, states: window.__states,"
                " error: document.getElementById('error').textContent,"
                " notice: document.getElementById('notice').textContent})"
            )
            raise AssertionError(f"the page never got in the room: {seen}") from exc

    async def leave(self) -> None:
        await self.page.click("#leave")

    async def captions(self) -> list[dict[str, Any]]:
        return await self.page.evaluate("window.__captions")

    async def wait_for_words(self, speaker: str, text: str, *, after: float = 0.0) -> None:
        """Until final captions attributed to `speaker`, received after unix time `after`, show at
        least half of the words of `text`."""
        try:
            await self._wait_for_words(speaker, text, after)
        except Exception as exc:  # say what the page did show
            shown = [
                (c["speaker"] or {}).get("name", "?") + ": " + c["text"]
                for c in await self.captions()
                if c["final"]
            ]
            raise AssertionError(f"{speaker}'s words not shown; finals shown: {shown}") from exc

    async def _wait_for_words(self, speaker: str, text: str, after: float) -> None:
        await self.page.wait_for_function(
            """([speaker, after, want]) => {
                const norm = (s) => s.toLowerCase().replace(/[^a-z0-9' ]+/g, " ").split(/\\s+/);
                const shown = new Set(window.__captions
                    .filter((c) => c.final && c.speaker && c.speaker.name === speaker
                                   && c.receivedAt >= after)
                    .flatMap((c) => norm(c.text)));
                const words = [...new Set(norm(want))].filter(Boolean);
                return words.filter((w) => shown.has(w)).length >= 0.5 * words.length;
            }""",
            arg=[speaker, after, text],
            timeout=TIMEOUT_MS,
            polling=500,
        )

    async def wait_for_audio_from(self, names: set[str]) -> None:
        """Until packets arrive, after this call, on the remote track of each participant named
        (the server names a forwarded track's source in its msid). Each may be heard at another
        moment: only who speaks is forwarded, and a browser asked for DTX sends little of the
        gate's hold after a turn, so two speakers' packets need not rise in the same second."""
        ids_of = """(names) => window.livecaptions.participants()
            .filter((p) => names.includes(p.name)).map((p) => p.id)"""
        await self.page.wait_for_function(
            f"(names) => ({ids_of})(names).length === names.length",
            arg=sorted(names),
            timeout=TIMEOUT_MS,
        )
        ids = await self.page.evaluate(ids_of, sorted(names))
        read = """async () => Object.fromEntries((await window.livecaptions.inboundAudio())
            .map((s) => [s.participant, s.packets]))"""
        before = await self.page.evaluate(read)
        await self.page.wait_for_function(
            f"""async ([ids, before]) => {{
                const now = await ({read})();
                return ids.every((id) => (now[id] ?? 0) > (before[id] ?? 0));
            }}""",
            arg=[ids, before],
            timeout=TIMEOUT_MS,
            polling=250,
        )

    async def wait_for_video_from(self, ids: list[str], timeout_ms: int = TIMEOUT_MS) -> None:
        """Until the camera of each participant of `ids` decodes on this page: a frame width,
        and more frames decoded than when this was called (issue 19)."""
        since = await self.page.evaluate(
            """async () => Object.fromEntries((await window.livecaptions.inboundVideo())
                .filter((v) => v.source === 'camera')
                .map((v) => [v.participant, v.framesDecoded]))"""
        )
        await self.page.wait_for_function(
            """async ([ids, since]) => {
                const videos = await window.livecaptions.inboundVideo();
                return ids.every((id) => videos.some((v) => v.participant === id
                    && v.source === 'camera' && v.frameWidth > 0
                    && v.framesDecoded > (since[id] ?? 0)));
            }""",
            arg=[ids, since],
            timeout=timeout_ms,
            polling=100,
        )

    async def wait_until_words_end(self) -> None:
        """Until this page's own microphone has been heard speaking and has just fallen silent
        (its speaking indicator): another page that opens its microphone now speaks in the
        silence of this one's loop, so that the two never talk over each other."""
        await self.page.evaluate("window.__heard = false")
        await self.page.wait_for_function(
            """() => {
                const speaking = document.getElementById("speaking").dataset.speaking === "true";
                if (speaking) window.__heard = true;
                return window.__heard && !speaking;
            }""",
            timeout=TIMEOUT_MS,
            polling=100,
        )

    async def now(self) -> float:
        return await self.page.evaluate("Date.now() / 1000")

    async def wait_for_notice(self) -> str:
        """Until the page shows a notice (e.g. why the microphone is not used); its text."""
        await self.page.wait_for_function(
            "!document.getElementById('notice').hidden", timeout=TIMEOUT_MS
        )
        return str(await self.page.evaluate("document.getElementById('notice').textContent"))

    async def is_visible(self, selector: str) -> bool:
        """Whether `selector`'s element is rendered (not hidden, nor inside something hidden)."""
        return bool(
            await self.page.evaluate(
                "(s) => { const e = document.querySelector(s);"
                " return !!e && e.checkVisibility(); }",
                selector,
            )
        )

    async def participant_id(self) -> str:
        """The id the server gave this page in its last join."""
        await self.page.wait_for_function("window.__joined !== null", timeout=TIMEOUT_MS)
        return str(await self.page.evaluate("window.__joined.participant"))

    async def wait_for_event(self, text: str) -> None:
        """Until the list of joins and leaves shows `text` (e.g. "Bob left")."""
        await self.page.wait_for_function(
            """(text) => [...document.querySelectorAll("#events li")]
                .some((li) => li.textContent.includes(text))""",
            arg=text,
            timeout=TIMEOUT_MS,
            polling=200,
        )

    async def transcript_speakers(self) -> list[str]:
        """The speaker names on the transcript's caption elements (data-speaker)."""
        return list(
            await self.page.evaluate(
                "[...document.querySelectorAll('#transcript [data-speaker]')]"
                ".map((e) => e.dataset.speaker)"
            )
        )
