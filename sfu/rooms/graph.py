"""The room's forwarding graph: which source track goes to which subscriber.

A room forwards each participant's inbound tracks (its sources: audio today; a camera and a screen
are kinds of their own) to the other participants (its subscribers). The graph is the one owner of
that: it knows every source, which subscriber receives which source on which of its outbound
tracks, and which subscribers must renegotiate when the set of sources changes. Participants ask
it what they should receive (`wanted`) and tell it what they set up (`route`, `unroute`); the room
tells it who comes and goes. Nobody else reaches into another participant's packet tap.

The graph knows no aiortc: a source is a packet tap (it copies each packet to the tracks routed
from it) and a subscriber anything that can be told to renegotiate. Sans-I/O and synchronous, like
the taps it holds.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from sfu.media.counters import ForwardingCounters
from sfu.media.forwarding import ForwardedAudioTrack, PacketTap
from sfu.media.speaking import ActiveSpeakers, SpeakingConfig

# Which video each subscriber receives (issues 19 and 22), at most MAX_SUBSCRIBER_VIDEO sources:
# screen shares first (shown large), then the cameras the subscriber pinned, then the cameras of
# the CAMERA_SPEAKERS participants who took a turn most recently (most recent first; a turn is
# the speaking gate's, `sfu.media.speaking`: a cough is none), then the cameras on the page of
# tiles it looks at. A subscriber that never said what it looks at (`view`) gets the rest of the
# cameras in publication order after the speakers' (with 12 or fewer cameras: all of them, as
# before). 12 is what a phone decodes smoothly at the 320x180-640x360 a browser sends a tile (and
# what a 3x3 page plus a pin and two speakers needs); each costs the server one route per frame.
MAX_SUBSCRIBER_VIDEO = 12
CAMERA_SPEAKERS = 4
# Where the room forwards who speaks: the audio sources offered at most (issue 22). Once more
# people than this have spoken, the one heard least recently goes back to unheard (its section in
# each subscriber idles, to be reused) and is offered again from its next voiced packet. Each
# audio section costs a client about 1.1 KiB of SDP: unbounded, some 55 people who had spoken
# took every answer past the 64 KiB signaling frame limit.
MAX_HEARD_AUDIO = 20


class MediaKind(StrEnum):
    """What a source carries: a participant has at most one source of each kind."""

    AUDIO = "audio"
    CAMERA = "camera"
    SCREEN = "screen"

    @property
    def video(self) -> bool:
        return self is not MediaKind.AUDIO


@dataclass(frozen=True)
class SourceKey:
    """One source: a participant's track of one kind."""

    participant: str
    kind: MediaKind


@dataclass(frozen=True)
class CameraView:
    """What a subscriber looks at (the `view` message): tiles it pinned, and the people on the
    page of tiles it shows. Bounded by the protocol (`protocol.signaling.View`)."""

    pinned: tuple[str, ...] = ()
    visible: tuple[str, ...] = ()


class Track(Protocol):
    """A subscriber's outbound track for one source at a time."""

    @property
    def dropped(self) -> int:
        """Packets (audio) or frames (video) dropped because the subscriber fell behind."""


class Source(Protocol):
    """A packet tap: copies each packet (audio) or frame (video) to the tracks subscribed to it."""

    def subscribe(self, subscriber_id: str, track: Any) -> None: ...

    def unsubscribe(self, subscriber_id: str) -> object: ...


class Subscriber(Protocol):
    """A participant as the graph sees it: told when what it should receive has changed."""

    @property
    def id(self) -> str: ...

    def forwarding_changed(self) -> None:
        """`ForwardingGraph.wanted` changed for this subscriber: bring its tracks in line
        (renegotiate)."""


class ForwardingGraph:
    """Sources, subscribers and the routes between them, for one room.

    Every subscriber wants every other participant's sources, in the order they were published
    (so that a subscriber's media sections keep one order across renegotiations), video only as
    the camera rule above chooses; where the room forwards only who speaks, an audio source is
    published to the others when first heard, and a turn (the gate's `on_turn`) moves its
    participant's camera to the front of the speakers'."""

    def __init__(
        self,
        speaking: SpeakingConfig | None = None,
        *,
        max_subscriber_video: int = MAX_SUBSCRIBER_VIDEO,
        camera_speakers: int = CAMERA_SPEAKERS,
        max_heard_audio: int = MAX_HEARD_AUDIO,
    ) -> None:
        """`speaking`: forward only the audio of who is speaking (`sfu.media.speaking`), and
        follow who takes a turn for cameras; None: every audio source, always (cameras then
        follow `view`s and publication order only)."""
        self.max_subscriber_video = max_subscriber_video
        self.camera_speakers = camera_speakers
        self.max_heard_audio = max_heard_audio
        self.counters = ForwardingCounters()
        self.speakers = (
            ActiveSpeakers(speaking, on_turn=self._turn) if speaking is not None else None
        )
        # Participants who took a turn, most recent first (at most `camera_speakers`).
        self._recent_speakers: list[str] = []
        self._views: dict[str, CameraView] = {}  # by subscriber, once it said
        self._chosen: dict[str, frozenset[SourceKey]] = {}  # video last `wanted` by subscriber
        self._sources: dict[SourceKey, Source] = {}
        # Audio sources published but never heard: nobody is asked to receive them until their
        # first voiced packet, so a silent participant's join costs the others no renegotiation
        # (a 150-person room would otherwise renegotiate everyone for every join).
        self._unheard: dict[SourceKey, PacketTap] = {}
        self._subscribers: dict[str, Subscriber] = {}
        # By source and subscriber: the track, and its drop count when it was routed (a track
        # idles between sources and is routed again: only what it dropped on a route counts).
        self._routes: dict[SourceKey, dict[str, tuple[Track, int]]] = {}
        self._retired_drops = {False: 0, True: 0}  # by video: dropped on routes that are gone

    # --- who is here -----------------------------------------------------------------------------

    def join(self, subscriber: Subscriber) -> None:
        """`subscriber` may receive from now on; it asks `wanted` once it can negotiate."""
        self._subscribers[subscriber.id] = subscriber

    def leave(self, participant_id: str) -> None:
        """`participant_id` is gone: its sources and the routes to it end, and whoever received
        one of its sources is told to renegotiate."""
        self._subscribers.pop(participant_id, None)
        self._views.pop(participant_id, None)
        self._chosen.pop(participant_id, None)
        if participant_id in self._recent_speakers:
            self._recent_speakers.remove(participant_id)
        for key in [k for k in self._routes if participant_id in self._routes[k]]:
            self.unroute(key, participant_id)
        for key in [key for key in self._unheard if key.participant == participant_id]:
            unheard = self._unheard.pop(key)
            if self.speakers is not None:
                self.speakers.forget(unheard)
        gone = [key for key in self._sources if key.participant == participant_id]
        for key in gone:
            for subscriber_id in list(self._routes.get(key, {})):
                self.unroute(key, subscriber_id)
            tap = self._sources.pop(key)
            if self.speakers is not None and isinstance(tap, PacketTap):
                self.speakers.forget(tap)
        if gone:
            self._changed(participant_id)

    def publish(self, key: SourceKey, tap: Source) -> None:
        """`key`'s packets now arrive through `tap`: every other subscriber should receive them
        (where the room forwards only who speaks, an audio source from its first voiced packet
        on; video from its publication)."""
        if key in self._sources or key in self._unheard:
            return
        speakers = self.speakers if key.kind is MediaKind.AUDIO else None
        if isinstance(tap, PacketTap):
            if speakers is not None:
                self._await_voice(key, tap, speakers)
                return
            tap.govern(None, self.counters)
        self._sources[key] = tap
        self._changed(key.participant)

    def _await_voice(self, key: SourceKey, tap: PacketTap, speakers: ActiveSpeakers) -> None:
        self._unheard[key] = tap
        tap.govern(speakers, self.counters, on_first_voice=lambda: self._heard(key))

    def _heard(self, key: SourceKey) -> None:
        """`key` spoke for the first time: everyone else should receive it from now on (its tap
        replays the packets since, to each route made shortly after)."""
        tap = self._unheard.pop(key, None)
        if tap is None:
            return
        self._sources[key] = tap
        self._changed(key.participant)
        heard = {k: t for k, t in self._sources.items() if isinstance(t, PacketTap)}
        if len(heard) > self.max_heard_audio and self.speakers is not None:
            stale = min((k for k in heard if k != key), key=lambda k: heard[k].last_admitted)
            self._demote(stale, heard[stale], self.speakers)

    def _demote(self, key: SourceKey, tap: PacketTap, speakers: ActiveSpeakers) -> None:
        """`key`, heard least recently, is offered to nobody until it speaks again."""
        for subscriber_id in list(self._routes.get(key, {})):
            self.unroute(key, subscriber_id)
        del self._sources[key]
        self._await_voice(key, tap, speakers)
        self._changed(key.participant)

    # --- what a subscriber receives --------------------------------------------------------------

    def wanted(self, subscriber_id: str) -> list[SourceKey]:
        """The sources `subscriber_id` should receive now, in a stable order (video as chosen
        by the rule above)."""
        chosen = self._choose_video(subscriber_id)
        self._chosen[subscriber_id] = chosen
        return [
            key
            for key in self._sources
            if key.participant != subscriber_id and (not key.kind.video or key in chosen)
        ]

    def _choose_video(self, subscriber_id: str) -> frozenset[SourceKey]:
        video = [k for k in self._sources if k.kind.video and k.participant != subscriber_id]
        cameras = {k.participant: k for k in video if k.kind is MediaKind.CAMERA}
        view = self._views.get(subscriber_id)
        speakers = self._recent_speakers[: self.camera_speakers]
        order = [k for k in video if k.kind is MediaKind.SCREEN]
        if view is not None:
            order += [cameras[p] for p in (*view.pinned, *speakers, *view.visible) if p in cameras]
        else:
            order += [cameras[p] for p in speakers if p in cameras] + list(cameras.values())
        return frozenset(list(dict.fromkeys(order))[: self.max_subscriber_video])

    def view(self, subscriber_id: str, view: CameraView) -> None:
        """`subscriber_id` pinned tiles or turned the page: it is told to bring its tracks in
        line if that changes what it should receive."""
        if subscriber_id not in self._subscribers:
            return
        self._views[subscriber_id] = view
        self._tell_if_chosen_changed([subscriber_id])

    def _turn(self, source: Hashable) -> None:
        """The speaking gate says `source` is taking a turn: its participant's camera goes to
        the front of the speakers' cameras."""
        taps = [*self._sources.items(), *self._unheard.items()]
        key = next((k for k, tap in taps if id(tap) == id(source)), None)
        if key is None:
            return
        recent = self._recent_speakers
        if recent[:1] == [key.participant]:
            return
        if key.participant in recent:
            recent.remove(key.participant)
        recent.insert(0, key.participant)
        del recent[self.camera_speakers :]
        if SourceKey(key.participant, MediaKind.CAMERA) in self._sources:
            self._tell_if_chosen_changed([s for s in self._subscribers if s != key.participant])

    def _tell_if_chosen_changed(self, subscriber_ids: list[str]) -> None:
        """Tell each of `subscriber_ids` whose video choice differs from what it last asked."""
        for subscriber_id in subscriber_ids:
            chosen = self._choose_video(subscriber_id)
            if chosen != self._chosen.get(subscriber_id, frozenset()):
                self._subscribers[subscriber_id].forwarding_changed()

    def route(self, key: SourceKey, subscriber_id: str, track: Track) -> None:
        """Deliver `key`'s packets to `track`, `subscriber_id`'s outbound track for it."""
        tap = self._sources.get(key)
        if tap is None or subscriber_id not in self._subscribers:
            return  # gone meanwhile: the subscriber is told to renegotiate, and drops the track
        self._routes.setdefault(key, {})[subscriber_id] = (track, track.dropped)
        if isinstance(track, ForwardedAudioTrack):
            track.counters = self.counters
        tap.subscribe(subscriber_id, track)

    def unroute(self, key: SourceKey, subscriber_id: str) -> None:
        """Stop delivering `key`'s packets to `subscriber_id`."""
        routes = self._routes.get(key, {})
        route = routes.pop(subscriber_id, None)
        if route is not None:
            self._retired_drops[key.kind.video] += _dropped(route)
        if not routes:
            self._routes.pop(key, None)
        tap = self._sources.get(key)
        if tap is not None:
            tap.unsubscribe(subscriber_id)

    def receivers(self, key: SourceKey) -> list[str]:
        """The subscribers `key`'s packets are delivered to."""
        return list(self._routes.get(key, {}))

    @property
    def routes(self) -> int:
        """(source, subscriber) pairs: the forwarding work each packet of every source costs."""
        return sum(len(routes) for routes in self._routes.values())

    @property
    def dropped(self) -> int:
        """Audio packets dropped because a subscriber could not take them (its transport full
        or closed, or over 1 s held before its sender started), since the room opened."""
        return self._dropped(video=False)

    @property
    def dropped_frames(self) -> int:
        """Video frames dropped for subscribers that fell behind, since the room opened."""
        return self._dropped(video=True)

    def _dropped(self, *, video: bool) -> int:
        live = sum(
            _dropped(route)
            for key, routes in self._routes.items()
            if key.kind.video == video
            for route in routes.values()
        )
        return self._retired_drops[video] + live

    def _changed(self, source_participant: str) -> None:
        """A source of `source_participant` came or went: everyone else's `wanted` changed."""
        for subscriber_id, subscriber in list(self._subscribers.items()):
            if subscriber_id != source_participant:
                subscriber.forwarding_changed()


def _dropped(route: tuple[Track, int]) -> int:
    track, at_start = route
    return track.dropped - at_start
