"""Room tokens end to end: the real server on loopback, real aiortc clients, real SQLite.

Joins are checked (signature, kid, algorithm, times, room, grants, access level), the identity
and name come from the token, and each grant gates what it names: a token without `publish`
hears and reads but is neither forwarded nor captioned; without `review` no /api/."""

import asyncio
import json
import time
from collections.abc import AsyncIterator

import jwt
import numpy as np
import pytest
import pytest_asyncio
from aiortc import RTCSessionDescription

import client.participant as client_participant
from access import Grant, KeyRing, RoomClaims, SigningKey, TokenIssuer
from access.config import AccessConfig
from access.grants import DEFAULT_GRANTS
from access.rooms import RoomAccess, RoomPolicy, RoomRule
from captionlog.log import LogConfig
from client import CaptionClient, WavTrack
from client.camera import SyntheticCamera
from client.speech import normalize_text
from protocol import ErrorCode
from sfu.config import ServerConfig
from sfu.media.ice import remote_description
from sfu.server import CaptionServer
from sfu.web.throttle import ThrottleConfig

from .conftest import client, http_request, until, wait_for_speech_captioned, ws_url

pytestmark = pytest.mark.asyncio(loop_scope="module")

NEW = SigningKey("2026-11", b"n" * 32)
OLD = SigningKey("2026-10", b"o" * 32)
REVIEWER = "static-reviewer-secret"
MINTER = "backend-mint-secret"


def token(
    room: str = "standup",
    identity: str = "ada",
    name: str = "Ada",
    grants: frozenset[Grant] = DEFAULT_GRANTS,
    key: SigningKey = NEW,
    **times: float,
) -> str:
    now = time.time()
    claims = RoomClaims(
        identity=identity,
        name=name,
        room=room,
        grants=grants,
        issued_at=times.get("issued_at", now - 5),
        expires=times.get("expires", now + 3600),
        not_before=times.get("not_before"),
    )
    return TokenIssuer(KeyRing((key,))).mint(claims)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CaptionServer]:
    rooms = RoomPolicy(
        RoomAccess.TRUSTED,
        (
            RoomRule("lobby", RoomAccess.PUBLIC),
            RoomRule("board", RoomAccess.RESTRICTED, frozenset({"ada"})),
        ),
    )
    db = tmp_path_factory.mktemp("log") / "captions.db"
    config = ServerConfig(
        port=0,
        access=AccessConfig(keys=KeyRing((NEW, OLD)), rooms=rooms, mint_token=MINTER),
        log=LogConfig(path=db, reviewer_token=REVIEWER),
        # Every refusal here comes from one address; the back-off is tested in test_hostile.py.
        join_throttle=ThrottleConfig(free_failures=1_000),
    )
    server = CaptionServer(config)
    await server.start()
    yield server
    await server.stop()


async def refused(server: CaptionServer, room: str, given: str) -> tuple[ErrorCode, str]:
    participant = client(server, room, "Mallory", token=given)
    try:
        with pytest.raises(RuntimeError, match="join refused"):
            await participant.join()
    finally:
        await participant.close()
    error = participant.errors[-1]
    assert error.ref == "join"
    return error.code, error.message


async def test_a_valid_token_joins_under_its_identity_and_name(server: CaptionServer) -> None:
    ada = client(server, "standup", "Mallory", token=token())
    bob = client(server, "standup", "Bob", token=token(identity="bob", name="Bob"))
    await ada.join()
    try:
        await bob.join()
        assert bob.joined is not None
        assert [p.name for p in bob.joined.participants] == ["Ada"]  # not "Mallory"
        inside = server.rooms["standup"].participants.values()
        assert {(p.identity, p.name) for p in inside} == {("ada", "Ada"), ("bob", "Bob")}
    finally:
        await bob.leave()
        await ada.leave()


async def test_a_key_rotated_out_of_signing_still_opens_by_kid(server: CaptionServer) -> None:
    ada = client(server, "standup", "Ada", token=token(key=OLD))
    await ada.join()
    await ada.leave()


@pytest.mark.parametrize(
    ("room", "make", "code", "says"),
    [
        ("standup", lambda: token(expires=time.time() - 300), "unauthorized", "expired"),
        ("standup", lambda: token(not_before=time.time() + 600), "unauthorized", "not valid"),
        (
            "standup",
            lambda: token(key=SigningKey(NEW.kid, b"x" * 32)),
            "unauthorized",
            "bad signature",
        ),
        (
            "standup",
            lambda: token(key=SigningKey("gone", b"n" * 32)),
            "unauthorized",
            "unknown key id",
        ),
        ("standup", lambda: token(room="other"), "forbidden", "for room 'other'"),
        ("standup", lambda: token(grants=frozenset({Grant.PUBLISH})), "forbidden", "'join'"),
        ("standup", lambda: "", "unauthorized", "is trusted"),
        ("standup", lambda: "not-a-jwt", "unauthorized", "not a room token"),
        ("board", lambda: token(room="board", identity="bob"), "forbidden", "restricted"),
        ("standup", lambda: _unsigned(), "unauthorized", "algorithm 'none'"),
        ("standup", lambda: _hs512(), "unauthorized", "algorithm 'HS512'"),
    ],
    ids=[
        "expired",
        "not-yet-valid",
        "wrong-signature",
        "unknown-kid",
        "wrong-room",
        "no-join-grant",
        "no-token-in-a-trusted-room",
        "garbage",
        "not-on-the-restricted-list",
        "alg-none",
        "algorithm-confusion",
    ],
)
async def test_each_bad_join_gets_its_error(
    server: CaptionServer, room: str, make, code: str, says: str
) -> None:
    got_code, message = await refused(server, room, make())
    assert got_code.value == code and says in message, message


def _unsigned() -> str:
    payload = jwt.decode(token(), options={"verify_signature": False})
    return jwt.encode(payload, None, algorithm="none", headers={"kid": NEW.kid})


def _hs512() -> str:
    payload = jwt.decode(token(), options={"verify_signature": False})
    return jwt.encode(payload, NEW.secret * 2, algorithm="HS512", headers={"kid": NEW.kid})


async def test_access_levels_public_pattern_and_restricted(server: CaptionServer) -> None:
    guest = client(server, "lobby", "Guest")  # public: no token needed
    ada = client(server, "board", "Ada", token=token(room="b*"))  # listed, pattern token
    for participant in (guest, ada):
        await participant.join()
    for participant in (guest, ada):
        await participant.leave()
    assert guest.joined is not None and ada.joined is not None


async def test_grants_captions_and_flag_gate_their_messages(server: CaptionServer) -> None:
    only = frozenset({Grant.JOIN, Grant.PUBLISH})
    quiet = client(server, "grants", "Quiet", token=token(room="grants", grants=only))
    await quiet.join()
    try:
        await quiet.wait_for(lambda: bool(quiet.statuses), 10)
        assert quiet.statuses[0].subtitles is False  # asked for, not granted
        await quiet.set_subtitles(True)
        quiet.flag(reason="wrong")
        await quiet.wait_for(lambda: len(quiet.errors) >= 2, 10)
    finally:
        await quiet.leave()
    refs = {e.ref: e for e in quiet.errors}
    assert (
        refs["subtitles"].code is ErrorCode.FORBIDDEN and "'captions'" in refs["subtitles"].message
    )
    assert refs["flag"].code is ErrorCode.FORBIDDEN and "'flag'" in refs["flag"].message


async def test_without_publish_one_listens_and_reads_but_is_never_heard(
    server: CaptionServer,
    speech: dict[str, tuple[np.ndarray, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cleo (no publish grant) obeys the server's `inactive` answer and sends no audio; Ada (no
    publish grant either) rewrites every server SDP so that her peer sends all along (`inactive`
    read as `recvonly`, `sendonly` as `sendrecv`). Bob speaks at the same time. Only Bob is
    forwarded and captioned; both listeners hear and read him. All three have cameras: only Bob's
    pictures are forwarded (issue 19: a token without `publish` sends neither sound nor
    pictures)."""
    listen = frozenset({Grant.JOIN, Grant.CAPTIONS})
    go = asyncio.Event()
    ada_track = WavTrack(speech["ada"][0], start=go)
    bob_track = WavTrack(speech["bob"][0], start=go)
    cleo_track = WavTrack(speech["ada2"][0], start=go)
    disobedient = ("127.0.0.1", "127.0.0.1")  # marks Ada's SDPs, same loopback-only ICE

    def disobey(sdp: str, kind: str, hosts: tuple[str, ...]) -> RTCSessionDescription:
        if hosts == disobedient:
            sdp = sdp.replace("a=inactive", "a=recvonly").replace("a=sendonly", "a=sendrecv")
        return remote_description(sdp, kind, hosts)

    monkeypatch.setattr(client_participant, "remote_description", disobey)
    ada = CaptionClient(
        ws_url(server),
        room="mute",
        name="Ada",
        audio=ada_track,
        token=token("mute", grants=listen),
        ice_hosts=disobedient,
        camera=SyntheticCamera(),
    )
    bob_token = token("mute", "bob", "Bob")
    bob = client(server, "mute", "Bob", audio=bob_track, token=bob_token, camera=SyntheticCamera())
    cleo_token = token("mute", "cleo", "Cleo", listen)
    cleo = client(
        server, "mute", "Cleo", audio=cleo_track, token=cleo_token, camera=SyntheticCamera()
    )
    for participant in (cleo, ada, bob):
        await participant.join()
    try:
        go.set()  # everyone speaks at once; only Bob may be heard
        await wait_for_speech_captioned(ada, bob_track, timeout=120)
        await cleo.wait_for(lambda: bool(cleo.finals()), 30)
        await asyncio.wait_for(ada_track.finished.wait(), 30)  # Ada did send, all of it
        assert bob.joined is not None
        bob_id = bob.joined.participant
        for viewer in (ada, cleo):
            await until(lambda v=viewer: bool(v.video_from.get(bob_id)), 10, "Bob's camera")
    finally:
        for participant in (bob, ada, cleo):
            await participant.leave()
    heard = set(normalize_text(ada.final_text()).split())
    assert heard & {"design", "team", "afternoon", "news"}, ada.final_text()  # Ada reads Bob
    assert not heard & {"budget", "approved", "finally"}, ada.final_text()  # no one reads Ada
    assert {c.speaker.name for c in ada.finals() if c.speaker and c.text} == {"Bob"}
    assert ada.remote_audio_peak > 0.05 and cleo.remote_audio_peak > 0.05  # they hear Bob
    assert bob.remote_audio_frames == 0  # nothing of Ada or Cleo was forwarded
    assert bob.video_frames_by_mid == {}  # nor any of their pictures
    assert cleo_track.started_at is None  # Cleo's peer sent no audio at all


async def test_only_a_review_grant_or_the_reviewer_token_opens_the_api(
    server: CaptionServer,
) -> None:
    async def status(credential: str) -> int:
        headers = {"Authorization": f"Bearer {credential}"}
        code, _, _ = await http_request(server.port, "GET", "/api/sessions", headers)
        return code

    reviewer = token("*", "rita", "Rita", frozenset({Grant.REVIEW}))
    assert await status(reviewer) == 200
    assert await status(REVIEWER) == 200
    assert await status(token("*")) == 403  # a participant's token: no review grant
    assert await status(token("*", grants=frozenset({Grant.REVIEW}), expires=0)) == 403
    code, _, _ = await http_request(server.port, "GET", "/api/sessions")
    assert code == 401


async def test_a_trusted_backend_mints_tokens_that_join(server: CaptionServer) -> None:
    path = "/auth/token?room=minted&identity=eve%40example.org&name=Eve&ttl=15m&grant=join"
    bearer = {"Authorization": f"Bearer {MINTER}"}
    code, _, body = await http_request(server.port, "POST", path, bearer)
    assert code == 200, body
    minted = json.loads(body)
    assert minted["url"].startswith(f"http://127.0.0.1:{server.port}/?room=minted&token=")
    eve = client(server, "minted", "Someone", token=minted["token"])
    await eve.join()
    await eve.leave()
    assert server.gatekeeper is not None
    claims = server.gatekeeper.verifier.verify(minted["token"], time.time())
    assert (claims.identity, claims.name, claims.grants) == ("eve@example.org", "Eve", {Grant.JOIN})
    assert 890 < claims.expires - claims.issued_at <= 900
    for headers, expected in (({}, 401), ({"Authorization": "Bearer guess"}, 403)):
        code, _, _ = await http_request(server.port, "POST", path, headers)
        assert code == expected
    for bad in (
        "room=a%2Fb&identity=x",
        "room=r&identity=x&ttl=30d",
        "room=r&identity=x&grant=sudo",
    ):
        code, _, body = await http_request(server.port, "POST", f"/auth/token?{bad}", bearer)
        assert code == 400 and b"bad-request" in body, bad


async def test_a_participant_of_one_room_never_gets_anything_of_another(
    server: CaptionServer, speech: dict[str, tuple[np.ndarray, str]]
) -> None:
    """Mallory, in room beta with a review grant for beta, tries whatever she can while Ada
    speaks in alpha: no audio, caption, status, participant or logged caption of alpha reaches
    her."""
    ada_track = WavTrack(speech["ada"][0])
    ada = client(server, "alpha", "Ada", audio=ada_track, token=token("alpha"))
    carol = client(server, "alpha", "Carol", token=token("alpha", "carol", "Carol"))
    grants = DEFAULT_GRANTS | {Grant.REVIEW}
    mallory = client(server, "beta", "Mallory", token=token("beta", "mallory", "M", grants))
    await mallory.join()
    await carol.join()
    await ada.join()
    try:
        await wait_for_speech_captioned(carol, ada_track, timeout=120)
        segments = [c.segment for c in carol.finals()]
        assert segments  # alpha has captions to steal
        for segment in segments:
            mallory.flag(segment, "not mine")
        mallory.send_channel('{"type": "subtitles", "enabled": true}')
        await mallory.send_frame(
            json.dumps({"type": "join", "v": 1, "room": "alpha", "name": "M", "token": ""})
        )
        await mallory.set_subtitles(False)
        await mallory.set_subtitles(True)
        await mallory.wait_for(lambda: len(mallory.errors) >= len(segments) + 2, 20)
        intruder = client(server, "alpha", "M", token=token("beta", "mallory", "M", grants))
        with pytest.raises(RuntimeError, match="join refused"):
            await intruder.join()
        await intruder.close()
        assert intruder.errors[-1].code is ErrorCode.FORBIDDEN
        assert server.log is not None and await asyncio.to_thread(server.log.flush)
        stolen = await _review(server, mallory.token, "/api/sessions")
        word = max(normalize_text(carol.final_text()).split(), key=len)  # a word alpha logged
        searched = await _review(server, mallory.token, f"/api/search?q={word}")
        alpha_session = server.rooms["alpha"].session_id
        direct = await _review(server, mallory.token, f"/api/sessions/{alpha_session}")
        legit = await _review(server, token("*", "rita", "Rita", grants), f"/api/search?q={word}")
    finally:
        for participant in (ada, carol, mallory):
            await participant.leave()
    assert mallory.captions == [] and mallory.events == []
    assert mallory.remote_audio_frames == 0
    assert all(e.code in {ErrorCode.BAD_REQUEST, ErrorCode.FORBIDDEN} for e in mallory.errors)
    assert all(s.engine == server.captioning.engine_name for s in mallory.statuses)
    assert stolen[0] == 200 and {s["room"] for s in stolen[1]["sessions"]} == {"beta"}
    assert searched[0] == 200 and searched[1]["hits"] == []
    assert direct[0] == 404
    assert legit[0] == 200 and "alpha" in {h["room"] for h in legit[1]["hits"]}


async def _review(server: CaptionServer, credential: str, path: str) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {credential}"}
    code, _, body = await http_request(server.port, "GET", path, headers)
    return code, json.loads(body)
