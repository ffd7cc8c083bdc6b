"""Every participant stays heard and captioned through joins, leaves and rejoins.

The clients negotiate as Chromium does (Opus as payload type 111, where aiortc says 96) and check
every server offer against what was agreed before: a server offer that renumbers a payload type
makes a browser's audio stop being understood (issue 9), which clients negotiating like aiortc
never showed. The room is captioned per speaker so that each speaker's captions are exact."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import numpy as np
import pytest
import pytest_asyncio

from client import CaptionClient, WavTrack, load_audio
from client.audio import RATE
from sfu.config import ServerConfig
from sfu.server import CaptionServer

from ..conftest import DATA
from .conftest import client

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROOM = "renegotiation"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server() -> AsyncIterator[CaptionServer]:
    server = CaptionServer(ServerConfig(port=0, per_speaker_rooms=frozenset({ROOM})))
    await server.start()
    yield server
    await server.stop()


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `predicate` (audio frames wake nobody) until it holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def everyone_hears(present: list[CaptionClient], speakers: list[CaptionClient]) -> None:
    """Each one present receives fresh audio frames (0.5 s' worth) from every other speaker."""
    for speaker in [s for s in speakers if s in present]:
        assert speaker.joined is not None
        source = speaker.joined.participant
        for listener in present:
            if listener is speaker:
                continue
            before = listener.frames_from.get(source, 0)
            await until(
                lambda listener=listener, before=before, source=source: (
                    listener.frames_from.get(source, 0) >= before + 25
                ),
                30,
                f"{listener.name} to hear {speaker.name}",
            )


async def captioned(listener: CaptionClient, speaker: str, word: str, since: float) -> None:
    """Wait for a final caption of `speaker` saying `word` that starts at `since` or later."""

    def said() -> bool:
        return any(
            word in c.text.lower() and c.speaker is not None and c.speaker.name == speaker
            for c in listener.finals()
            if c.start >= since
        )

    try:
        await listener.wait_for(said, 90)
    except TimeoutError:
        heard = [(c.speaker and c.speaker.name, c.start, c.text) for c in listener.finals()]
        raise AssertionError(f"no {word!r} from {speaker} after {since:.1f}: {heard}") from None


async def test_every_speaker_heard_and_captioned_through_joins_leaves_and_rejoins(
    server: CaptionServer, speech: dict[str, tuple[np.ndarray, str]]
) -> None:
    jfk = load_audio(DATA / "jfk.flac")
    ada = client(server, ROOM, "Ada", audio=WavTrack(jfk, loop=True))
    bob_silent = WavTrack(np.zeros(RATE, np.float32), loop=True)
    bob = client(server, ROOM, "Bob", audio=bob_silent)
    carol = client(server, ROOM, "Carol")  # listens only
    dave = client(server, ROOM, "Dave", opus_payload_type=None)  # late; negotiates as aiortc
    present: list[CaptionClient] = []
    try:
        for newcomer in (ada, bob, carol, dave):
            await newcomer.join()
            present.append(newcomer)
            await everyone_hears(present, [ada, bob])

        await bob.leave()
        present.remove(bob)
        assert dave.joined is not None
        rejoined_at = time.time() - dave.joined.clock_origin
        bob_again = client(
            server,
            ROOM,
            "Bob",
            audio=WavTrack(speech["bob"][0], play_offset=0.5, loop=True),
        )
        await bob_again.join()
        present.append(bob_again)
        await everyone_hears(present, [ada, bob_again])

        # Ada, first in the room, is still captioned after every renegotiation, and so is Bob.
        settled = time.time() - dave.joined.clock_origin  # room time of the last renegotiation
        await captioned(dave, "Ada", "country", settled)
        await captioned(dave, "Bob", "design", rejoined_at)

        for participant in [*present, bob]:
            assert participant.negotiation_violations == [], participant.name
    finally:
        for participant in present:
            await participant.leave()


async def test_a_joiner_whose_connection_is_up_before_it_answers_is_heard(
    server: CaptionServer, speech: dict[str, tuple[np.ndarray, str]]
) -> None:
    """A browser may bring its connection up before it answers the server's first re-offer (the
    one that forwards the others to it). aiortc starts a receiver once, with the codecs of that
    moment, and its createOffer had reset them to its defaults: the joiner's audio, sent as
    agreed (111), was then dropped, and nobody heard or captioned it (a flaky browser test)."""
    ada = client(server, "late-answer", "Ada", audio=WavTrack(speech["ada"][0], loop=True))
    bob = client(
        server,
        "late-answer",
        "Bob",
        audio=WavTrack(speech["bob"][0], loop=True),
        answer_when_connected=True,
    )
    try:
        await ada.join()
        await bob.join()
        await everyone_hears([ada, bob], [ada, bob])
        assert ada.negotiation_violations == bob.negotiation_violations == []
    finally:
        await ada.leave()
        await bob.leave()
