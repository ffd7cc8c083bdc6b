"""Two nodes on one Redis: one owner per room, signaling relayed, failover, drain, Redis loss."""

import asyncio
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from websockets.asyncio.client import connect

from client import CaptionClient, WavTrack
from sfu.server import CaptionServer

from ..integration.conftest import http_request, wait_for_speech_captioned
from .conftest import (
    LEASE_MS,
    REVIEWER,
    RedisServer,
    free_port,
    node,
    node_process,
    wait_until,
    ws_url,
)

pytestmark = pytest.mark.asyncio(loop_scope="function")


def owner_in_redis(redis_server: RedisServer, room: str, prefix: str = "test") -> str | None:
    value = redis_server.client().get(f"{prefix}:room:{room}")
    return None if value is None else value.decode()


async def test_one_room_across_two_nodes(
    two_nodes: tuple[CaptionServer, CaptionServer],
    redis_server: RedisServer,
    speech: dict[str, tuple[np.ndarray, str]],
) -> None:
    a, b = two_nodes
    go = asyncio.Event()
    ada_track = WavTrack(speech["report"][0], start=go)
    bob_speaks = asyncio.Event()  # after Ada: the room forwards who speaks (issue 22)
    bob_track = WavTrack(speech["bob"][0], start=bob_speaks)
    ada = CaptionClient(ws_url(a), room="standup", name="Ada", audio=ada_track)
    bob = CaptionClient(ws_url(b), room="standup", name="Bob", audio=bob_track)
    carol = CaptionClient(ws_url(b), room="standup", name="Carol")
    try:
        for participant in (ada, bob, carol):
            await participant.join()
        # The room lives on exactly one node, the one its lease names; the other relays.
        assert a.hosts("standup") and not b.hosts("standup")
        assert owner_in_redis(redis_server, "standup") == "a"
        assert b.cluster is not None and b.cluster.relays == 2
        assert b"livecaptions_relayed_connections_open 2.0" in b.metrics.render()
        go.set()
        await wait_for_speech_captioned(carol, ada_track)
        # Everyone hears everyone, whichever node they came through.
        assert ada.joined and bob.joined and carol.joined
        bob_speaks.set()
        await ada.wait_for(lambda: ada.frames_from.get(bob.joined.participant, 0) > 0, 30)
        await bob.wait_for(lambda: bob.frames_from.get(ada.joined.participant, 0) > 0, 30)
        await carol.wait_for(lambda: carol.frames_from.get(ada.joined.participant, 0) > 0, 30)

        # The same captions reach the participant on the owner and those relayed.
        def same() -> bool:
            return [(c.segment, c.text) for c in ada.finals()] == [
                (c.segment, c.text) for c in carol.finals()
            ]

        await ada.wait_for(same, 30)
        assert "report" in ada.final_text().lower() or "review" in ada.final_text().lower()
    finally:
        for participant in (ada, bob, carol):
            await participant.leave()
    # The last one out closes the room and gives its lease back.
    await wait_until(lambda: owner_in_redis(redis_server, "standup") is None, 10)
    # One caption log: the session the owner (a) wrote is reviewed through b, every final in it.
    assert a.log is not None
    await asyncio.to_thread(a.log.flush)
    review = {"Authorization": f"Bearer {REVIEWER}"}
    _, _, body = await http_request(b.port, "GET", "/api/sessions?room=standup", review)
    [session] = json.loads(body)["sessions"]
    _, _, body = await http_request(b.port, "GET", f"/api/sessions/{session['id']}", review)
    logged = [(s["segment"], s["text"]) for s in json.loads(body)["segments"]]
    # Every final Carol (the last to leave) received, in order; the log may also hold what the
    # room finalised after she left, as it closed (a trailing "." once), which nobody received.
    seen = [(c.segment, c.text) for c in carol.finals() if c.text]
    assert seen and logged[: len(seen)] == seen
    assert {(c.segment, c.text) for c in ada.finals() if c.text} <= set(seen)
    status, _, vtt = await http_request(
        b.port, "GET", f"/api/sessions/{session['id']}/export.vtt", review
    )
    assert status == 200 and vtt.startswith(b"WEBVTT") and b"<v Ada>" in vtt
    word = logged[0][1].split()[0].strip(".,")
    _, _, body = await http_request(b.port, "GET", f"/api/search?q={word}", review)
    assert session["id"] in {h["session_id"] for h in json.loads(body)["hits"]}


async def test_twenty_concurrent_first_joins_elect_one_owner(
    two_nodes: tuple[CaptionServer, CaptionServer], redis_server: RedisServer
) -> None:
    a, b = two_nodes

    async def join(server: CaptionServer, n: int) -> dict[str, object]:
        # Unbounded: these sockets read nothing after `joined` (the others' joins queue up).
        socket = await connect(ws_url(server), max_queue=None)
        await socket.send(
            json.dumps({"type": "join", "v": 1, "room": "rush", "name": f"p{n}", "token": ""})
        )
        reply = json.loads(await asyncio.wait_for(socket.recv(), 30))
        sockets.append(socket)
        return reply

    sockets: list[object] = []
    try:
        replies = await asyncio.gather(*(join((a, b)[n % 2], n) for n in range(20)))
        assert [r["type"] for r in replies] == ["joined"] * 20, [
            r for r in replies if r["type"] != "joined"
        ]
        assert len({r["participant"] for r in replies}) == 20
        owners = [s for s in (a, b) if s.hosts("rush")]
        assert len(owners) == 1
        owner = owners[0]
        assert len(owner.rooms["rush"].participants) == 20
        assert owner_in_redis(redis_server, "rush") == owner.cluster.node_id  # type: ignore[union-attr]
        other = b if owner is a else a
        assert other.cluster is not None and other.cluster.relays == 10
        # Never two owners: were the lease to pass to the other node (as when an owner starved
        # of CPU misses its renewals), the old owner drops the room at its next renewal.
        assert other.cluster.node_id is not None
        redis_server.client().set("test:room:rush", other.cluster.node_id, px=LEASE_MS)
        await wait_until(lambda: not owner.hosts("rush"), 30)
        for socket in sockets:
            await asyncio.wait_for(socket.wait_closed(), 30)  # type: ignore[attr-defined]
            assert socket.close_code in (1012, 1011), socket.close_code  # type: ignore[attr-defined]
        again = await join(other, 99)
        assert again["type"] == "joined" and other.hosts("rush") and not owner.hosts("rush")
    finally:
        for socket in sockets:
            await socket.close()  # type: ignore[attr-defined]


async def test_owner_killed_rejoin_through_survivor(
    redis_server: RedisServer, speech: dict[str, tuple[np.ndarray, str]]
) -> None:
    with node_process(redis_server.url, "doomed") as (process, port, _):
        # Alone, the node must take the room (a busy node only hands rooms to others).
        ada = CaptionClient(f"ws://127.0.0.1:{port}/ws", room="board", name="Ada")
        await ada.join()
        assert owner_in_redis(redis_server, "board", "livecaptions") == "doomed"
        async with node(redis_server.url, "survivor", prefix="livecaptions") as survivor:
            # The lease of a live owner never lasts more than LEASE_MS from its last renewal.
            assert 0 < redis_server.client().pttl("livecaptions:room:board") <= LEASE_MS
            process.send_signal(signal.SIGKILL)
            process.wait(30)
            died = time.monotonic()
            await ada.close()
            track = WavTrack(speech["ada"][0])
            rejoined = await rejoin(ws_url(survivor), "board", "Ada", track, timeout=30)
            joined_after = time.monotonic() - died
            assert survivor.hosts("board")
            assert owner_in_redis(redis_server, "board", "livecaptions") == "survivor"
            await rejoined.wait_for(lambda: any(c.text for c in rejoined.finals()), 60)
            captioned_after = time.monotonic() - died  # death → the first final caption
            await wait_for_speech_captioned(rejoined, track)
            assert rejoined.final_text()
            await rejoined.leave()
            # The bound itself is the lease (checked above); wall time is only reported, since
            # this machine is shared: `pytest -s` shows it.
            print(f"failover: rejoined {joined_after:.2f} s, first final {captioned_after:.2f} s")


async def rejoin(url: str, room: str, name: str, track: WavTrack, timeout: float) -> CaptionClient:
    """What the page's reconnect does: join again until the cluster has a room for us."""
    deadline = time.monotonic() + timeout
    while True:
        client = CaptionClient(url, room=room, name=name, audio=track)
        try:
            await client.join()
            return client
        except RuntimeError as refused:
            await client.close()
            assert "unavailable" in str(refused), refused
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)  # the page's reconnect backs off the same way


async def test_draining_node_takes_no_new_room_and_exits(redis_server: RedisServer) -> None:
    with node_process(redis_server.url, "leaving", "--drain-timeout", "120") as (
        process,
        port,
        output,
    ):
        leaving_url = f"ws://127.0.0.1:{port}/ws"
        ada = CaptionClient(leaving_url, room="old", name="Ada")
        await ada.join()  # alone: "old" lives on the node about to leave
        async with node(redis_server.url, "staying", prefix="livecaptions") as staying:
            process.send_signal(signal.SIGTERM)
            await wait_until(lambda: any("Draining" in line for line in output), 30)
            # A new room joined through the draining node lives on the other one.
            bob = CaptionClient(leaving_url, room="new", name="Bob")
            await bob.join()
            assert staying.hosts("new")
            assert owner_in_redis(redis_server, "new", "livecaptions") == "staying"
            # Its existing room keeps working: a join through the other node is relayed to it.
            carol = CaptionClient(ws_url(staying), room="old", name="Carol")
            await carol.join()
            assert owner_in_redis(redis_server, "old", "livecaptions") == "leaving"
            assert process.poll() is None
            for participant in (bob, carol, ada):
                await participant.leave()
            assert await asyncio.to_thread(process.wait, 60) == 0


async def test_redis_unreachable_at_start_is_a_clear_error() -> None:
    closed = free_port()
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "sfu",
            "--port",
            "0",
            "--no-log",
            "--redis",
            f"redis://127.0.0.1:{closed}/0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert f"Redis at redis://127.0.0.1:{closed}/0 is unreachable" in result.stderr
    assert "Traceback" not in result.stderr


async def test_redis_lost_while_running(
    redis_server: RedisServer, speech: dict[str, tuple[np.ndarray, str]]
) -> None:
    async with node(redis_server.url, "a") as a:
        # Ada speaks once Carol is in: how long the node takes to notice Redis is gone varies,
        # and Carol must not join after the words she is to be captioned.
        carol_in = asyncio.Event()
        track = WavTrack(speech["report"][0], start=carol_in)
        ada = CaptionClient(ws_url(a), room="kept", name="Ada", audio=track)
        await ada.join()
        redis_server.stop()
        assert a.cluster is not None
        await wait_until(lambda: not a.cluster.redis_up, 30)  # type: ignore[union-attr]
        # A new room is refused, clearly; nothing crashes.
        bob = CaptionClient(ws_url(a), room="fresh", name="Bob")
        with pytest.raises(RuntimeError, match="unavailable"):
            await bob.join()
        await bob.close()
        # The room it hosts keeps working: joins and captions.
        carol = CaptionClient(ws_url(a), room="kept", name="Carol")
        await carol.join()
        carol_in.set()
        await wait_for_speech_captioned(carol, track)
        assert carol.final_text()
        # Redis is back (empty: no persistence): the owner takes its lease back, new rooms open.
        redis_server.start()
        await wait_until(lambda: owner_in_redis(redis_server, "kept") == "a", 30)
        await wait_until(lambda: a.cluster.redis_up, 30)  # type: ignore[union-attr]
        dave = CaptionClient(ws_url(a), room="fresh", name="Dave")
        await dave.join()
        assert owner_in_redis(redis_server, "fresh") == "a"
        for participant in (ada, carol, dave):
            await participant.leave()
