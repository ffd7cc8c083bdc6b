"""Debian's Firefox ESR in the real-browser tests, driven over WebDriver BiDi by puppeteer-core
(`firefox/driver.mjs`, a Node.js process per browser), behind the subset of Playwright's page API
that the tests use, so that one `MeetingPage` drives Chromium and Firefox alike.

Firefox has no fake-audio-file flag: `fake_microphone` is an init script that answers the page's
getUserMedia with a recording played by WebAudio, once Firefox itself has granted the microphone.
Prefs seen working here with Firefox ESR 153: loopback ICE candidates, host addresses not hidden
behind mDNS names, the microphone granted without a prompt, a fake capture device, and cubeb's mock
context (without an audio device an AudioContext stays suspended and sends silence).

A person who refuses the microphone is `refused_microphone`, an init script whose getUserMedia
fails as Firefox's does (`NotAllowedError`), while Firefox itself holds the permission. A Firefox
that really lacks it gathers only its default interface's address (never loopback), whatever the
prefs: on a loopback-only machine it cannot reach a server at all, where in a real deployment the
server learns its address from its checks (peer-reflexive; `sfu.media.ice`). That path is tested
with a client that writes its SDP as such a Firefox does
(`client.browsers.FIREFOX_WITHOUT_MICROPHONE`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

FIREFOX = "/usr/bin/firefox-esr"
DRIVER = Path(__file__).parent / "firefox" / "driver.mjs"
MODULES = Path(__file__).parent / "firefox" / "node_modules"
FAKE_RATE = 16_000  # the recording as the init script carries it: speech needs no more

# What every test Firefox gets.
PREFS: dict[str, object] = {
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "permissions.default.microphone": 1,  # granted without a prompt (BiDi cannot grant it)
    "permissions.default.camera": 1,  # the page joins with its (fake) camera, as Chromium does
    "media.navigator.streams.fake": True,  # a capture device exists on a machine with none
    "media.cubeb.force_mock_context": True,
    "media.autoplay.default": 0,  # remote audio plays without a click, as Chromium's flag does
    "media.autoplay.blocking_policy": 0,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
}


def require_firefox() -> str:
    if shutil.which(FIREFOX) is None:
        pytest.fail("Firefox ESR is not installed: apt-get install firefox-esr")
    if not MODULES.is_dir():
        pytest.fail("puppeteer-core is not installed: scripts/bootstrap.sh test")
    return FIREFOX


def fake_microphone(loop: np.ndarray, rate: int) -> str:
    """An init script: getUserMedia's audio is `loop` (float32 at `rate`), played over and over from
    the moment the page opens the microphone, as Chromium plays its fake-capture file."""
    step = rate / FAKE_RATE
    samples = loop[np.round(np.arange(0, len(loop), step)).astype(int).clip(0, len(loop) - 1)]
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    encoded = base64.b64encode(pcm).decode()
    return FAKE_MICROPHONE.replace("__RATE__", str(FAKE_RATE)).replace("__PCM__", encoded)


FAKE_MICROPHONE = """(() => {
  const RATE = __RATE__, PCM = "__PCM__";
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const granted = await original(constraints);  // Firefox's permission decides, as without us
    if (!constraints || !constraints.audio) return granted;
    const bytes = Uint8Array.from(atob(PCM), (c) => c.charCodeAt(0));
    const ints = new Int16Array(bytes.buffer);
    const context = new AudioContext();
    const buffer = context.createBuffer(1, ints.length, RATE);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < ints.length; i++) channel[i] = ints[i] / 32768;
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.loop = true;
    const destination = context.createMediaStreamDestination();
    source.connect(destination);
    source.start();
    await context.resume();
    return new MediaStream([...destination.stream.getAudioTracks(), ...granted.getVideoTracks()]);
  };
})();"""


# An init script: the person refuses the microphone (Firefox's own refusal, as the page sees it).
REFUSED_MICROPHONE = """(() => {
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    throw new DOMException("The request is not allowed by the user agent", "NotAllowedError");
  };
})();"""


class DriverError(RuntimeError):
    """The driver, or Firefox through it, failed a request."""


@dataclass
class Firefox:
    """One Firefox process (and its driver)."""

    process: asyncio.subprocess.Process
    version: str = ""
    _pending: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    _next: int = 1
    _reader: asyncio.Task[None] | None = None
    init_scripts: tuple[str, ...] = ()

    @classmethod
    async def launch(
        cls, prefs: dict, *, init_scripts: tuple[str, ...] = (), env: dict | None = None
    ) -> Firefox:
        process = await asyncio.create_subprocess_exec(
            "node",
            str(DRIVER),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 24,
        )
        browser = cls(process, init_scripts=init_scripts)
        browser._reader = asyncio.ensure_future(browser._read())
        browser.version = await browser.call(
            "launch", executablePath=FIREFOX, prefs=prefs, env=env or {}
        )
        return browser

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            reply = json.loads(line)
            future = self._pending.pop(reply.get("id"), None)
            if future is None or future.done():
                continue
            if "error" in reply:
                future.set_exception(DriverError(reply["error"]))
            else:
                future.set_result(reply["ok"])
        for future in self._pending.values():
            if not future.done():
                future.set_exception(DriverError("the Firefox driver exited"))

    async def call(self, op: str, **arguments: Any) -> Any:
        assert self.process.stdin is not None
        request_id, self._next = self._next, self._next + 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self.process.stdin.write(json.dumps({"id": request_id, "op": op, **arguments}).encode())
        self.process.stdin.write(b"\n")
        await self.process.stdin.drain()
        return await future

    async def new_context(self, viewport: dict | None = None, **_: Any) -> FirefoxContext:
        return FirefoxContext(self, await self.call("newContext"), viewport)

    async def close(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._reader is not None:
            await self._reader


@dataclass
class FirefoxContext:
    """A browser context: its own cookies and storage, like a separate person."""

    browser: Firefox
    context_id: int
    viewport: dict | None = None

    async def new_page(self) -> FirefoxPage:
        page = FirefoxPage(self, await self.browser.call("newPage", context=self.context_id))
        if self.viewport:
            await page.call("viewport", **self.viewport)
        for script in self.browser.init_scripts:
            await page.add_init_script(script)
        return page

    async def close(self) -> None:
        await self.browser.call("closeContext", context=self.context_id)


def _expression(expression: str, arg: Any) -> str:
    """Playwright's rule: a string is an expression, called with `arg` if it is a function."""
    return (
        f"(() => {{ const __value = ({expression});"
        f" return typeof __value === 'function' ? __value({json.dumps(arg)}) : __value; }})()"
    )


class FirefoxKeyboard:
    def __init__(self, page: FirefoxPage) -> None:
        self._page = page

    async def press(self, key: str) -> None:
        await self._page.call("press", key=key)


class FirefoxPage:
    """What `MeetingPage` and the tests ask of a page, as Playwright spells it."""

    def __init__(self, context: FirefoxContext, page_id: int) -> None:
        self.context = context
        self.page_id = page_id
        self.keyboard = FirefoxKeyboard(self)

    async def call(self, op: str, **arguments: Any) -> Any:
        return await self.context.browser.call(op, page=self.page_id, **arguments)

    async def add_init_script(self, script: str) -> None:
        await self.call("initScript", script=script)

    async def goto(self, url: str) -> None:
        await self.call("goto", url=url)

    async def reload(self) -> None:
        await self.call("reload")

    async def evaluate(self, expression: str, arg: Any = None) -> Any:
        return await self.call("evaluate", expression=_expression(expression, arg))

    async def wait_for_function(
        self, expression: str, *, arg: Any = None, timeout: float = 30_000, polling: Any = 100
    ) -> None:
        await self.call(
            "waitFor",
            expression=_expression(expression, arg),
            timeout=timeout,
            polling=100 if polling == "raf" else polling,
        )

    async def click(self, selector: str) -> None:
        await self.call("click", selector=selector)

    async def fill(self, selector: str, value: str) -> None:
        await self.evaluate(
            """([selector, value]) => {
                const input = document.querySelector(selector);
                input.value = value;
                input.dispatchEvent(new Event("input", { bubbles: true }));
                input.dispatchEvent(new Event("change", { bubbles: true }));
            }""",
            [selector, value],
        )

    async def set_checked(self, selector: str, checked: bool) -> None:
        if (
            await self.evaluate(f"document.querySelector({json.dumps(selector)}).checked")
            != checked
        ):
            await self.click(selector)

    async def select_option(self, selector: str, value: str) -> None:
        await self.fill(selector, value)

    async def input_value(self, selector: str) -> str:
        return str(await self.evaluate(f"document.querySelector({json.dumps(selector)}).value"))

    async def inner_text(self, selector: str) -> str:
        return str(await self.evaluate(f"document.querySelector({json.dumps(selector)}).innerText"))

    async def get_attribute(self, selector: str, name: str) -> str | None:
        found = await self.evaluate(
            "([s, n]) => document.querySelector(s)?.getAttribute(n) ?? null", [selector, name]
        )
        return None if found is None else str(found)
