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

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from sfu.media.counters import ForwardingCounters
from sfu.media.forwarding import ForwardedAudioTrack, PacketTap
from sfu.media.speaking import ActiveSpeakers, SpeakingConfig

# Per-room and per-subscriber limits on forwarded video (issue 19). Policy: video sources are
# forwarded in the order they were published; in a room, only the first MAX_ROOM_VIDEO sources are
# forwarded at all, and each subscriber receives at most MAX_SUBSCRIBER_VIDEO of them (the
# earliest). A source past a limit waits, unforwarded, until an earlier one ends; audio is never
# limited here.
MAX_ROOM_VIDEO = 24
MAX_SUBSCRIBER_VIDEO = 12
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
    (so that a subscriber's media sections keep one order across renegotiations); where the room
    forwards only who speaks, an audio source is published to the others when first heard."""

    def __init__(
        self,
        speaking: SpeakingConfig | None = None,
        *,
        max_room_video: int = MAX_ROOM_VIDEO,
        max_subscriber_video: int = MAX_SUBSCRIBER_VIDEO,
        max_heard_audio: int = MAX_HEARD_AUDIO,
    ) -> None:
        """`speaking`: forward only the audio of who is speaking (`sfu.media.speaking`); None:
        every audio source, always."""
        self.max_room_video = max_room_video
        self.max_subscriber_video = max_subscriber_video
        self.max_heard_audio = max_heard_audio
        self.counters = ForwardingCounters()
        self.speakers = ActiveSpeakers(speaking) if speaking is not None else None
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
        """The sources `subscriber_id` should receive now, in a stable order (video within the
        limits above)."""
        room_video = [key for key in self._sources if key.kind.video][: self.max_room_video]
        video = [key for key in room_video if key.participant != subscriber_id]
        allowed = set(video[: self.max_subscriber_video])
        return [
            key
            for key in self._sources
            if key.participant != subscriber_id and (not key.kind.video or key in allowed)
        ]

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
