"""Joins and leaves in batches (the `participants` extension, issue 22): a storm of joins and
leaves through the real protocol, clients that asked for batches and one that did not, and every
client's list of the room equal to the server's at the end.

Most of the storm's clients join by signaling only (the `join` frame, no offer): who is in a room
does not depend on media, and 40 peer connections would make this test take ten times as long.
Two of them are full participants with media (a listener that batches and one that does not)."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from client import CaptionClient
from client.listener import Listener
from protocol import ParticipantJoined, ParticipantLeft
from sfu.config import ServerConfig
from sfu.rooms.presence import PresenceConfig
from sfu.server import CaptionServer

from .conftest import ws_url

pytestmark = pytest.mark.asyncio(loop_scope="module")

STORM = 40


def others(server: CaptionServer, room: str, client: CaptionClient) -> dict[str, str]:
    """The room as the server has it, but `client`: id -> name."""
    assert client.joined is not None
    members = server.rooms[room].participants.values()
    return {p.id: p.name for p in members if p.id != client.joined.participant}


async def views_match(server: CaptionServer, room: str, clients: list[CaptionClient]) -> None:
    """Wait until every client's list of the others is the server's (woken by its frames)."""

    def matches(client: CaptionClient) -> bool:
        return {i: p.name for i, p in client.people.items()} == others(server, room, client)

    for client in clients:
        await client.wait_for(lambda c=client: matches(c), 10)


async def test_a_storm_of_joins_and_leaves_reaches_everyone_in_a_few_batches(
    server: CaptionServer,
) -> None:
    room = "presence-storm"
    witness = Listener(ws_url(server), room=room, name="Witness")  # batches
    plain = Listener(ws_url(server), room=room, name="Plain", batch_presence=False)
    storm = [
        CaptionClient(ws_url(server), room=room, name=f"guest-{i}", batch_presence=i % 4 != 0)
        for i in range(STORM)
    ]
    everyone = [witness, plain, *storm]
    try:
        await witness.join()
        await plain.join()
        await views_match(server, room, [witness, plain])
        witness.events.clear()
        witness.presence_frames = 0
        await asyncio.gather(*(client.join_without_media() for client in storm))
        assert len(server.rooms[room].participants) == STORM + 2
        await views_match(server, room, everyone)
        # The one that did not ask got PROTOCOL.md's frames, one per join; the witness a few
        # batches (the 40 joins came within one 50 ms window here; 10 windows would be 0.5 s).
        assert plain.presence_frames == STORM
        assert all(isinstance(e, ParticipantJoined) for e in plain.events)
        assert witness.presence_frames <= STORM // 4, witness.presence_frames
        assert len(witness.events) == STORM  # unfolded: each join once

        leaving, staying = storm[: STORM // 2], [witness, plain, *storm[STORM // 2 :]]
        frames_before = witness.presence_frames, plain.presence_frames
        await asyncio.gather(*(client.leave() for client in leaving))
        await views_match(server, room, staying)
        assert plain.presence_frames - frames_before[1] == len(leaving)
        assert witness.presence_frames - frames_before[0] <= len(leaving) // 4
        # A guest that joined with batches and left in the storm: told only of those who
        # came after it.
        for client in staying:
            assert client.errors == [], client.errors
        left = [e for e in witness.events if isinstance(e, ParticipantLeft)]
        assert sorted(e.participant.name for e in left) == sorted(c.name for c in leaving)
    finally:
        await asyncio.gather(*(client.leave() for client in everyone))


async def test_pages_that_say_their_camera_state_as_they_join_keep_the_batches() -> None:
    """Every page sends `media` right after it joins: each `participant-media` waits, for a
    client that has not yet been told of that join, until the batch that tells it (flushing the
    room for it would cost a frame per recipient per join: 40 here), and never names a stranger.
    A window of 0.5 s, so that the count does not depend on how fast this machine joins."""
    window = 0.5
    server = CaptionServer(ServerConfig(port=0, presence=PresenceConfig(window=window)))
    await server.start()
    room = "presence-media"
    witness = Listener(ws_url(server), room=room, name="Witness")  # batches
    plain = Listener(ws_url(server), room=room, name="Plain", batch_presence=False)
    storm = [CaptionClient(ws_url(server), room=room, name=f"cam-{i}") for i in range(STORM)]
    everyone = [witness, plain, *storm]

    async def join_with_camera(client: CaptionClient) -> None:
        await client.join_without_media()
        await client.set_media(camera=True)

    try:
        await witness.join()
        await plain.join()
        await views_match(server, room, [witness, plain])
        witness.presence_frames = 0
        started = time.monotonic()
        for client in storm:  # one after another: each `media` comes before the next join
            await join_with_camera(client)
        windows = math.ceil((time.monotonic() - started) / window)
        ids = {c.joined.participant for c in storm if c.joined is not None}
        for client in (witness, plain):
            await client.wait_for(lambda c=client: ids <= set(c.media), 10)
            assert client.media_of_strangers == [], client.name
        assert witness.presence_frames <= min(windows + 1, STORM // 2), (
            witness.presence_frames,
            windows,
        )
    finally:
        await asyncio.gather(*(client.leave() for client in everyone))
        await server.stop()
