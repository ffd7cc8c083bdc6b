"""The room's forwarding graph over real packet taps: who is told to renegotiate, which packets
reach which track, and what is left when a participant goes."""

from __future__ import annotations

import pytest
from aiortc import RTCCertificate, RTCDtlsTransport, RTCIceGatherer, RTCIceTransport
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RtpPacket

from sfu.cli import config_from_args, parse_args
from sfu.media.forwarding import QUEUE_PACKETS, ForwardedAudioTrack, PacketTap
from sfu.media.speaking import SpeakingConfig
from sfu.rooms.graph import CameraView, ForwardingGraph, MediaKind, SourceKey

from .fakes import RecordingOutlet

pytestmark = pytest.mark.asyncio


class Subscriber:
    """Counts how often it was told that what it should receive changed."""

    def __init__(self, participant_id: str) -> None:
        self.id = participant_id
        self.told = 0

    def forwarding_changed(self) -> None:
        self.told += 1


def tap() -> PacketTap:
    transport = RTCDtlsTransport(
        RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()]
    )
    return PacketTap(RTCRtpReceiver("audio", transport), jitter_prefetch=0)


async def send(source: PacketTap, timestamp: int) -> None:
    """One RTP packet arriving at `source`'s receiver (whose hook the tap wraps)."""
    packet = RtpPacket(payload_type=111, timestamp=timestamp, payload=b"opus")
    await source._receiver._handle_rtp_packet(packet, 0)


def audio(participant: str) -> SourceKey:
    return SourceKey(participant, MediaKind.AUDIO)


async def test_a_source_is_wanted_by_everyone_else_in_publication_order() -> None:
    graph = ForwardingGraph()
    ada, bob, carol = Subscriber("ada"), Subscriber("bob"), Subscriber("carol")
    for subscriber in (ada, bob, carol):
        graph.join(subscriber)
    graph.publish(audio("carol"), tap())
    graph.publish(audio("ada"), tap())
    assert (ada.told, bob.told, carol.told) == (1, 2, 1)  # never about its own source
    assert graph.wanted("bob") == [audio("carol"), audio("ada")]
    assert graph.wanted("ada") == [audio("carol")]
    graph.publish(audio("ada"), tap())  # published twice: nothing changes
    assert graph.wanted("bob") == [audio("carol"), audio("ada")] and bob.told == 2


async def test_packets_reach_the_tracks_routed_from_their_source_only() -> None:
    graph = ForwardingGraph()
    for name in ("ada", "bob", "carol"):
        graph.join(Subscriber(name))
    ada_tap, carol_tap = tap(), tap()
    graph.publish(audio("ada"), ada_tap)
    graph.publish(audio("carol"), carol_tap)
    to_bob, outlet = ForwardedAudioTrack("ada"), RecordingOutlet()
    to_bob.send_through(outlet)
    graph.route(audio("ada"), "bob", to_bob)
    await send(ada_tap, 1000)
    await send(carol_tap, 5000)  # routed nowhere
    assert outlet.sent == [(b"opus", 0)]
    assert graph.receivers(audio("ada")) == ["bob"] and graph.receivers(audio("carol")) == []
    graph.unroute(audio("ada"), "bob")
    await send(ada_tap, 1960)
    assert outlet.pts == [0]


async def test_a_leaver_takes_its_sources_and_its_routes_and_the_others_renegotiate() -> None:
    graph = ForwardingGraph()
    ada, bob, carol = Subscriber("ada"), Subscriber("bob"), Subscriber("carol")
    for subscriber in (ada, bob, carol):
        graph.join(subscriber)
    ada_tap, bob_tap = tap(), tap()
    graph.publish(audio("ada"), ada_tap)
    graph.publish(audio("bob"), bob_tap)
    for source, subscriber in (("ada", "bob"), ("ada", "carol"), ("bob", "ada"), ("bob", "carol")):
        graph.route(audio(source), subscriber, ForwardedAudioTrack(source))
    told = (ada.told, carol.told)

    graph.leave("bob")
    assert graph.wanted("ada") == [] and graph.wanted("carol") == [audio("ada")]
    assert graph.receivers(audio("ada")) == ["carol"]  # the route to bob is gone
    assert list(ada_tap.subscribers) == ["carol"] and not bob_tap.subscribers
    assert (ada.told, carol.told) == (told[0] + 1, told[1] + 1)
    late = ForwardedAudioTrack("bob")
    graph.route(audio("bob"), "carol", late)  # a renegotiation that raced the leave: no route
    assert graph.receivers(audio("bob")) == []


async def test_drops_are_counted_once_per_route_for_the_room() -> None:
    graph = ForwardingGraph()
    for name in ("ada", "bob"):
        graph.join(Subscriber(name))
    ada_tap = tap()
    graph.publish(audio("ada"), ada_tap)
    track = ForwardedAudioTrack("ada")
    graph.route(audio("ada"), "bob", track)
    for i in range(QUEUE_PACKETS + 3):  # bob's sender never starts: what is held overflows
        await send(ada_tap, 960 * i)
    assert graph.dropped == 3
    graph.unroute(audio("ada"), "bob")
    track.detach()
    assert graph.dropped == 3
    track.attach("ada", pts_origin=0)  # the idle track carries the source again
    graph.route(audio("ada"), "bob", track)
    assert graph.dropped == 3  # what it dropped before is not counted twice
    for i in range(QUEUE_PACKETS + 2):
        await send(ada_tap, 960 * (100 + i))
    assert graph.dropped == 5


async def send_level(source: PacketTap, timestamp: int, dbov: int) -> None:
    """One packet with an audio level (RFC 6464) of -`dbov` dBov."""
    packet = RtpPacket(payload_type=111, timestamp=timestamp, payload=b"opus")
    packet.extensions.audio_level = (False, dbov)
    await source._receiver._handle_rtp_packet(packet, 0)


async def test_a_silent_source_is_not_offered_until_it_speaks_and_keeps_its_first_word() -> None:
    """Where the room forwards who speaks, a silent participant's join asks nobody to
    renegotiate; its first voiced packet does, and the routes made then get the packets since."""
    graph = ForwardingGraph(SpeakingConfig())
    ada, bob = Subscriber("ada"), Subscriber("bob")
    graph.join(ada)
    graph.join(bob)
    ada_tap = tap()
    graph.publish(audio("ada"), ada_tap)
    for i in range(10):
        await send_level(ada_tap, 960 * i, 127)  # silence
    assert (bob.told, graph.wanted("bob")) == (0, [])
    await send_level(ada_tap, 960 * 10, 30)  # the first voiced packet
    await send_level(ada_tap, 960 * 11, 30)
    assert (bob.told, ada.told, graph.wanted("bob")) == (1, 0, [audio("ada")])
    track, outlet = ForwardedAudioTrack("ada"), RecordingOutlet()
    track.send_through(outlet)
    graph.route(audio("ada"), "bob", track)  # after bob's renegotiation
    await send_level(ada_tap, 960 * 12, 30)
    assert outlet.pts == [0, 960, 1920]  # nothing of the first word was lost
    counters = graph.counters
    assert (counters.received, counters.gated, counters.forwarded) == (13, 10, 3)
    graph.leave("ada")
    assert graph.wanted("bob") == []


async def test_a_silent_participant_who_leaves_unheard_asks_nobody_to_renegotiate() -> None:
    graph = ForwardingGraph(SpeakingConfig())
    bob = Subscriber("bob")
    graph.join(bob)
    graph.publish(audio("ada"), tap())
    graph.leave("ada")
    assert bob.told == 0


async def test_past_the_bound_the_source_heard_least_recently_is_offered_again_when_it_speaks() -> (
    None
):
    """Offers stay bounded however many people have spoken: past `max_heard_audio`, the source
    heard least recently is offered to nobody (its routes end) until its next voiced packet."""
    graph = ForwardingGraph(SpeakingConfig(), max_heard_audio=2)
    listener = Subscriber("zoe")
    graph.join(listener)
    taps = {name: tap() for name in ("ada", "bob", "carol")}
    for name, source in taps.items():
        graph.publish(audio(name), source)
    tracks = {}
    for i, name in enumerate(("ada", "bob")):
        await send_level(taps[name], 960 * i, 30)
        tracks[name] = ForwardedAudioTrack(name)
        graph.route(audio(name), "zoe", tracks[name])
    assert graph.wanted("zoe") == [audio("ada"), audio("bob")]
    told = listener.told
    await send_level(taps["carol"], 0, 30)  # a third speaker: Ada, heard least recently, goes
    assert graph.wanted("zoe") == [audio("bob"), audio("carol")]
    assert graph.receivers(audio("ada")) == [] and listener.told > told
    held = tracks["ada"].held
    await send_level(taps["ada"], 2 * 960, 30)
    assert tracks["ada"].held == held  # routed nowhere until zoe renegotiates
    assert graph.wanted("zoe") == [audio("carol"), audio("ada")]  # and Bob's turn to go


# --- whose cameras each subscriber receives (issue 22) ----------------------------------------


def camera(participant: str) -> SourceKey:
    return SourceKey(participant, MediaKind.CAMERA)


def cameras_room(names: str, **limits: int) -> tuple[ForwardingGraph, dict[str, PacketTap]]:
    """A room where everyone in `names` has a microphone and a camera, and listener `z`."""
    graph = ForwardingGraph(SpeakingConfig(hold=1.0), **limits)
    taps = {name: tap() for name in names}
    for name in (*names, "z"):
        graph.join(Subscriber(name))
    for name in names:
        graph.publish(audio(name), taps[name])
        graph.publish(camera(name), object())  # type: ignore[arg-type]  # no frames needed here
    return graph, taps


def talk(graph: ForwardingGraph, source: PacketTap, start: float, seconds: float) -> None:
    """`source` voiced for `seconds` from `start`, a packet every 20 ms, through the room's gate
    (time passed in, as the tap would pass the packets' arrival)."""
    assert graph.speakers is not None
    for i in range(round(seconds / 0.02) + 1):
        graph.speakers.admit(source, (False, 30), start + i * 0.02)


def video_of(graph: ForwardingGraph, subscriber: str) -> list[str]:
    return sorted(k.participant for k in graph.wanted(subscriber) if k.kind.video)


async def test_without_a_view_the_last_speakers_cameras_come_first_then_publication_order() -> None:
    graph, taps = cameras_room("abcdef", max_subscriber_video=3, camera_speakers=2)
    assert video_of(graph, "z") == ["a", "b", "c"]
    talk(graph, taps["f"], 0.0, 1.2)  # a turn: past the 1 s hold
    assert video_of(graph, "z") == ["a", "b", "f"]
    talk(graph, taps["e"], 5.0, 1.2)
    assert video_of(graph, "z") == ["a", "e", "f"]
    talk(graph, taps["d"], 10.0, 1.2)  # two speakers' cameras at most: f, heard first, goes
    assert video_of(graph, "z") == ["a", "d", "e"]
    graph.leave("d")
    assert video_of(graph, "z") == ["a", "b", "e"]


async def test_a_cough_swaps_no_camera_and_a_turn_tells_only_whose_choice_changed() -> None:
    graph, taps = cameras_room("abcd", max_subscriber_video=2)
    subscribers = {s: graph._subscribers[s] for s in "abcdz"}
    for name in subscribers:
        graph.wanted(name)  # each has brought its tracks in line
    told = {n: s.told for n, s in subscribers.items()}  # type: ignore[attr-defined]
    talk(graph, taps["d"], 0.0, 0.3)  # a cough: voiced 0.3 s, silent past the hold
    assert graph.speakers is not None
    graph.speakers.admit(taps["d"], (False, 127), 1.5)
    assert video_of(graph, "z") == ["a", "b"]
    assert all(s.told == told[n] for n, s in subscribers.items())  # type: ignore[attr-defined]
    talk(graph, taps["d"], 3.0, 1.0)
    assert video_of(graph, "z") == ["a", "d"]
    changed = {n for n, s in subscribers.items() if s.told > told[n]}  # type: ignore[attr-defined]
    assert changed == {"a", "b", "c", "z"}  # not d: its own camera
    for name in subscribers:
        graph.wanted(name)
    told = {n: s.told for n, s in subscribers.items()}  # type: ignore[attr-defined]
    talk(graph, taps["d"], 8.0, 1.2)  # d again: its camera is forwarded already
    assert all(s.told == told[n] for n, s in subscribers.items())  # type: ignore[attr-defined]


async def test_a_view_puts_screens_then_pins_then_speakers_then_its_page() -> None:
    graph, taps = cameras_room("abcdefgh", max_subscriber_video=5, camera_speakers=2)
    screen = SourceKey("h", MediaKind.SCREEN)
    graph.publish(screen, object())  # type: ignore[arg-type]
    graph.view("z", CameraView(pinned=("g",), visible=("a", "b", "c", "d")))
    chosen = {k for k in graph.wanted("z") if k.kind.video}
    assert chosen == {screen, camera("g"), camera("a"), camera("b"), camera("c")}
    talk(graph, taps["e"], 0.0, 1.2)
    talk(graph, taps["f"], 5.0, 1.2)
    talk(graph, taps["g"], 10.0, 1.2)  # the pinned one speaks: it counts once
    chosen = {k for k in graph.wanted("z") if k.kind.video}
    assert chosen == {screen, camera("g"), camera("f"), camera("a"), camera("b")}
    talk(graph, taps["a"], 15.0, 1.2)  # whoever speaks, the pin stays
    chosen = {k for k in graph.wanted("z") if k.kind.video}
    assert chosen == {screen, camera("g"), camera("a"), camera("b"), camera("c")}
    graph.view("z", CameraView(pinned=("g",), visible=("e", "gone")))  # next page; a stale id
    chosen = {k for k in graph.wanted("z") if k.kind.video}
    assert chosen == {screen, camera("g"), camera("a"), camera("e")}  # no fill past its page
    # Without a view: screens, the speakers' cameras (a's own excepted: g), then the earliest.
    chosen = {k for k in graph.wanted("a") if k.kind.video}
    assert chosen == {screen, camera("g"), camera("b"), camera("c"), camera("d")}


async def test_the_operator_sets_the_cameras_per_participant() -> None:
    assert config_from_args(parse_args([])).max_subscriber_video == 12
    assert config_from_args(parse_args(["--max-video", "4"])).max_subscriber_video == 4
    with pytest.raises(SystemExit):
        parse_args(["--max-video", "-1"])
