"""Drive the participant page in real headless Chromium: launch flags, fake microphones fed from
WAVs, and a `MeetingPage` that joins, leaves and reads what the page shows through its documented
hooks (docs/protocol-notes.md, "Page hooks")."""

from __future__ import annotations

import shutil
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
document.addEventListener("livecaptions:caption", (e) => window.__captions.push(
    {...e.detail.caption, receivedAt: e.detail.receivedAt, clockOrigin: e.detail.clockOrigin}));
document.addEventListener("livecaptions:state", (e) => window.__states.push(e.detail.state));
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


def write_loop(path: Path, pcm: np.ndarray, silence: float = 1.5) -> Path:
    """A WAV Chromium loops as its microphone: silence, the words, silence (48 kHz mono 16-bit)."""
    gap = np.zeros(round(silence * RATE), np.float32)
    sf.write(path, np.concatenate([gap, pcm, gap]), RATE, subtype="PCM_16")
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
    async def open(cls, context: Any, base_url: str, query: str = "") -> MeetingPage:
        page = await context.new_page()
        await page.add_init_script(RECORD_CAPTIONS)
        await page.goto(f"{base_url}/{query}")
        return cls(page, base_url)

    async def join(
        self, room: str, name: str, *, token: str = "", listen_only: bool = False
    ) -> None:
        await self.page.fill("#room", room)
        await self.page.fill("#name", name)
        await self.page.fill("#token", token)
        await self.page.set_checked("#listen-only", listen_only)
        await self.page.click("#join")

    async def wait_in_room(self) -> None:
        await self.page.wait_for_function(
            "window.livecaptions.state === 'in-room'", timeout=TIMEOUT_MS
        )

    async def leave(self) -> None:
        await self.page.click("#leave")

    async def captions(self) -> list[dict[str, Any]]:
        return await self.page.evaluate("window.__captions")

    async def wait_for_words(self, speaker: str, text: str, *, after: float = 0.0) -> None:
        """Until final captions attributed to `speaker`, received after unix time `after`, show at
        least half of the words of `text`."""
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

    async def inbound_packets(self) -> list[int]:
        """Packets received so far on each remote audio track, in a stable (mid) order."""
        stats = await self.page.evaluate("window.livecaptions.inboundAudio()")
        return [s["packets"] for s in sorted(stats, key=lambda s: str(s["mid"]))]

    async def wait_for_flowing_tracks(self, count: int) -> None:
        """Until at least `count` remote audio tracks receive packets, measured over a second."""
        await self.page.wait_for_function(
            """async (count) => {
                const read = async () => new Map((await window.livecaptions.inboundAudio())
                    .map((s) => [s.mid, s.packets]));
                const before = await read();
                await new Promise((r) => setTimeout(r, 1000));
                const after = await read();
                const rising = [...after].filter(([mid, n]) => n > (before.get(mid) ?? 0));
                return rising.length >= count;
            }""",
            arg=count,
            timeout=TIMEOUT_MS,
            polling=250,
        )

    async def now(self) -> float:
        return await self.page.evaluate("Date.now() / 1000")
