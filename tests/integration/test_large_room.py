"""Large rooms (issue 22): lightweight listeners through the real protocol, two speakers taking
turns, a join storm, and silent participants who cost nothing.

Speakers are real aiortc participants whose every sent packet is recorded (`speakers.record_sent`:
its Opus payload and audio level); listeners (`client.listener`) keep the payloads they receive.
The server forwards payloads untouched, so a test knows exactly which packets of a speaker reached
which listener: the 'first 300 ms' of a turn are its first 15 voiced packets."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio

from client import CaptionClient, WavTrack, load_audio
from client.audio import RATE
from client.listener import Listener
from sfu.config import ServerConfig
from sfu.server import CaptionServer

from ..conftest import DATA
from .conftest import until, ws_url
from .speakers import Sent, record_sent, utterances

pytestmark = pytest.mark.asyncio(loop_scope="module")

FIRST_300_MS = 15  # packets of 20 ms


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server() -> AsyncIterator[CaptionServer]:
    # 152: the storm test lets 150 join a room where a speaker and a witness are already.
    server = CaptionServer(ServerConfig(port=0, max_participants=152))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="module")
def jfk() -> np.ndarray:
    return load_audio(DATA / "jfk.flac")


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), np.float32)


async def join_listeners(
    server: CaptionServer, room: str, count: int, keep_payloads: bool = True
) -> list[Listener]:
    listeners = [
        Listener(ws_url(server), room=room, name=f"listener-{i}", keep_payloads=keep_payloads)
        for i in range(count)
    ]
    gate = asyncio.Semaphore(8)

    async def join(listener: Listener) -> None:
        async with gate:
            await listener.join(timeout=60)

    await asyncio.gather(*(join(listener) for listener in listeners))
    return listeners


def received(listener: Listener, speaker: CaptionClient, packets: list[Sent]) -> float:
    """The share of `packets` (sent by `speaker`) that reached `listener`."""
    assert speaker.joined is not None
    got = listener.payloads_from(speaker.joined.participant)
    return sum(1 for p in packets if p.payload in got) / len(packets)


async def leave_all(listeners: list[Listener], speakers: list[CaptionClient]) -> None:
    """The listeners first, 16 at a time (one after the other, 150 took 22 s), then the speakers
    one after the other (a speaker's leave re-offers the room to everyone still in it)."""
    gate = asyncio.Semaphore(16)

    async def leave(listener: Listener) -> None:
        async with gate:
            await listener.leave()

    await asyncio.gather(*(leave(listener) for listener in listeners))
    for participant in speakers:
        await participant.leave()


async def test_sixty_listeners_hear_two_speakers_through_a_turn_change(
    server: CaptionServer, jfk: np.ndarray
) -> None:
    """60 participants, 2 speakers: every listener receives at least 99 % of each speaker's voiced
    packets, all of the first 300 ms of each turn (Bob speaks for the first time at the change:
    his audio is offered to the room then, and his first syllable must survive it), and the
    captions."""
    half = len(jfk) // 2
    ada_says, bob_says = jfk[:half], jfk[half:]
    go = asyncio.Event()
    ada_track = WavTrack(
        np.concatenate([silence(0.5), ada_says, silence(len(bob_says) / RATE + 2)]), start=go
    )
    bob_track = WavTrack(
        np.concatenate([silence(0.5 + len(ada_says) / RATE + 0.6), bob_says, silence(1.5)]),
        start=go,
    )
    room = "large-60"
    ada = CaptionClient(ws_url(server), room=room, name="Ada", audio=ada_track)
    bob = CaptionClient(ws_url(server), room=room, name="Bob", audio=bob_track)
    await ada.join()
    await bob.join()
    listeners: list[Listener] = []
    try:
        listeners = await join_listeners(server, room, 58)
        ada_sent, bob_sent = record_sent(ada), record_sent(bob)
        go.set()
        await asyncio.wait_for(bob_track.finished.wait(), 60)
        ada_turns, bob_turns = utterances(ada_sent), utterances(bob_sent)
        assert ada_turns and bob_turns
        ada_voiced = [p for run in ada_turns for p in run]
        bob_voiced = [p for run in bob_turns for p in run]
        for listener in listeners:
            assert received(listener, ada, ada_voiced) >= 0.99, listener.name
            assert received(listener, bob, bob_voiced) >= 0.99, listener.name
            for speaker, turns in ((ada, ada_turns), (bob, bob_turns)):
                assert received(listener, speaker, turns[0][:FIRST_300_MS]) == 1.0, listener.name
            delivery = listener.delivery()
            assert all(d.received >= 0.99 * d.expected for d in delivery.values()), delivery

        def captioned() -> bool:
            return all(len([c for c in li.finals() if c.text]) >= 2 for li in listeners)

        await listeners[0].wait_for(captioned, 30)  # woken by the first listener's messages
        while not captioned():
            await asyncio.sleep(0.1)  # the others' last captions are already on their way
        reference = {c.segment for c in listeners[0].finals() if c.text}
        for listener in listeners:
            assert {c.segment for c in listener.finals() if c.text} == reference, listener.name
    finally:
        await leave_all(listeners, [ada, bob])


async def test_a_join_storm_of_150_is_absorbed_while_a_speaker_goes_on(
    server: CaptionServer, jfk: np.ndarray
) -> None:
    """150 participants join one room within 30 s: all are let in, none refused under the cap
    (the next is: room-full), and the speaker already talking stays forwarded (every voiced packet
    sent during the storm reaches a listener who was there before, 99 % of them within half a
    second) and captioned (the speech of the storm's seconds, in a median 5 s of being said).

    Why half a second and not the 50 ms a packet typically takes here: this process holds the
    server, its Whisper captioning and all 150 clients, whose heap grows by some 400,000 objects
    during the storm, and each 25 % of growth triggers one of Python's full garbage collections,
    which stop this one event loop for longer every time (up to 165 ms seen on this machine, more
    on a busy CI machine: a p99 of 222 ms there). A stall, the failure this test is about, holds
    the speaker's packets behind the joins for as long as the storm lasts (seconds)."""
    room = "large-storm"
    track = WavTrack(jfk, loop=True)
    speaker = CaptionClient(ws_url(server), room=room, name="Speaker", audio=track)
    await speaker.join()
    witness = Listener(ws_url(server), room=room, name="witness", keep_payloads=True)
    await witness.join()
    assert speaker.joined is not None
    source = speaker.joined.participant
    sent = record_sent(speaker)
    await witness.wait_packets(lambda: witness.packets_from.get(source, 0) > 50, 20)
    storm: list[Listener] = []
    try:
        started, started_wall = time.monotonic(), time.time()
        storm = await join_listeners(server, room, 150, keep_payloads=False)
        storm_seconds = time.monotonic() - started
        assert storm_seconds < 30
        assert len(server.rooms[room].participants) == 152
        for listener in [witness, *storm]:
            assert listener.errors == [], listener.errors
        late = Listener(ws_url(server), room=room, name="one-too-many")
        with pytest.raises(RuntimeError, match="room-full"):
            await late.join(timeout=20)
        await late.leave()
        for listener in storm:
            await listener.wait_packets(lambda li=listener: li.packets_from.get(source, 0) > 0, 20)
        # Every voiced packet the speaker sent during the storm reached the witness, and none
        # was held up: forwarding did not stall.
        during = [p for p in sent if p.voiced and started <= p.at <= started + storm_seconds]
        assert len(during) >= 25 * storm_seconds  # JFK is voiced at least half of the time
        arrived = witness.payloads_from(source)
        delays = sorted(arrived[p.payload] - p.at for p in during if p.payload in arrived)
        assert len(delays) >= 0.99 * len(during)
        p99 = delays[int(0.99 * (len(delays) - 1))]
        assert p99 < 0.5, f"p99 delay {p99:.3f} s (longest {delays[-1]:.3f} s)"
        delivery = witness.delivery()[source]
        assert delivery.received >= 0.99 * delivery.expected
        # Captions went on: what was said during the storm was captioned, and not late (the
        # updates of a caption that ends in the storm: their median latency; a final comes after
        # its partials, with the same end).
        assert witness.joined is not None
        origin, storm_end = witness.joined.clock_origin, started_wall + storm_seconds

        def of_the_storm() -> list[float]:
            return [
                witness.latency(c)
                for c in witness.captions
                if c.caption.text and started_wall <= origin + c.caption.end <= storm_end
            ]

        await witness.wait_for(lambda: bool(of_the_storm()), 15)
        assert statistics.median(of_the_storm()) < 5, of_the_storm()
    finally:
        await leave_all([*storm, witness], [speaker])


async def test_a_silent_participant_is_not_forwarded_until_it_speaks(
    server: CaptionServer, jfk: np.ndarray
) -> None:
    """Not a packet of a silent participant is forwarded; its first voiced packet is (the first
    time, when its audio is offered to the others, and again after a silence past the hold)."""
    words = jfk[: RATE * 2]
    go = asyncio.Event()
    track = WavTrack(
        np.concatenate([silence(1.0), words, silence(2.5), words, silence(1.5)]), start=go
    )
    room = "large-silent"
    ada = CaptionClient(ws_url(server), room=room, name="Ada", audio=track)
    await ada.join()
    carol = Listener(ws_url(server), room=room, name="Carol", keep_payloads=True)
    await carol.join()
    try:
        sent = record_sent(ada)
        await until(lambda: len(sent) >= 25, 10, "half a second of Ada's silence")
        assert not any(p.voiced for p in sent)
        assert carol.packets == 0 and carol.offers == 0  # not even offered
        go.set()
        await asyncio.wait_for(track.finished.wait(), 30)
        turns = utterances(sent)
        assert len(turns) == 2
        for turn in turns:
            assert received(carol, ada, turn[:1]) == 1.0  # forwarded from its first packet
            assert received(carol, ada, turn) >= 0.99
        # The silence before, between (past the 1 s hold) and after: at least 100 packets that
        # were forwarded to nobody.
        assert server.rooms[room].forwarding.counters.gated >= 100
        assert ada.joined is not None
        assert carol.packets_from[ada.joined.participant] <= len(sent) - 100
    finally:
        await leave_all([carol], [ada])
