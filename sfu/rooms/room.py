"""A room: its participants, its clock, its audio tap, and its captions."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Protocol

import numpy as np

from captioner.assembler import SpeakerLookup
from captioner.engine import SAMPLE_RATE, StreamUpdate
from protocol import (
    Caption,
    CaptionChoice,
    Encoded,
    HumanMode,
    HumanStatus,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantMedia,
    Speaker,
    StatusState,
)
from sfu.captioning.port import CaptioningPort
from sfu.captioning.stream import CaptionMode, CaptionStream
from sfu.media.speaking import SpeakingConfig
from sfu.media.tap import TrackTimeline, VoiceActivity
from sfu.media.video import VideoCounters
from sfu.rooms.delay import CaptionDelay
from sfu.rooms.graph import MAX_SUBSCRIBER_VIDEO, ForwardingGraph
from sfu.rooms.human import Accepted, HumanCaptions, Line
from sfu.rooms.language import room_language
from sfu.rooms.participant import Participant
from sfu.rooms.presence import Presence, PresenceConfig

logger = logging.getLogger(__name__)

PUMP_SECONDS = 0.04
HEALTH_SECONDS = 1.0

SPEECH_SETTLE_SECONDS = 0.5  # speech frames may reach the tap this late


class RoomEvents(Protocol):
    """What a room tells the server about: captions sent, speech heard, captions flagged, and its
    end (closed, every stream's last captions out)."""

    def on_caption(self, room: Room, caption: Caption) -> None: ...

    def on_speech(self, room: Room, spans: list[tuple[float, float]]) -> None: ...

    def on_flag(self, room: Room, participant: Participant, segment: str, reason: str) -> None: ...

    def on_done(self, room: Room) -> None: ...


class _HealthWatch:
    """Captioning state of one room: unavailable when the captioner is not running or none of its
    streams has a slot, degraded while some wait for one or are being moved to another caption
    server, while audio is being dropped, while steps fail or while its captions are delayed (the
    engine is past its capacity), ok otherwise."""

    def __init__(self) -> None:
        self._dropped = 0.0
        self._failures = 0

    def check(
        self, captioning: CaptioningPort, streams: list[CaptionStream], delayed: bool = False
    ) -> StatusState:
        if not captioning.running:
            return StatusState.UNAVAILABLE
        waiting = sum(1 for s in streams if not s.admitted)
        if streams and waiting == len(streams):
            return StatusState.UNAVAILABLE
        stats = captioning.stats()
        dropped = sum(stats.dropped_seconds.get(s.stream_id, 0.0) for s in streams)
        worse = dropped > self._dropped or stats.failures > self._failures
        self._dropped, self._failures = dropped, stats.failures
        moving = any(s.degraded for s in streams)
        degraded = worse or waiting or moving or delayed
        return StatusState.DEGRADED if degraded else StatusState.OK


class Room:
    def __init__(
        self,
        *,
        name: str,
        stream_id: str,
        captioning: CaptioningPort,
        engine_name: str,
        languages: tuple[str, ...],
        events: RoomEvents,
        mode: CaptionMode = CaptionMode.MIXED,
        default_language: str | None = None,
        speaking: SpeakingConfig | None = None,
        presence: PresenceConfig | None = None,
        max_subscriber_video: int = MAX_SUBSCRIBER_VIDEO,
    ) -> None:
        self.name = name
        self.stream_id = stream_id
        self.engine_name = engine_name
        self.languages = languages
        # The operator's language for it (rooms file, --language); None: detected.
        self.default_language = default_language
        self.language = default_language  # its participants' choice, else the default
        self.session_id = uuid.uuid4().hex  # the caption log's session: this room's life
        self.clock_origin = time.time()  # unix time of room-clock zero
        self._monotonic_origin = time.monotonic()
        self.participants: dict[str, Participant] = {}
        # Whose media goes to whom.
        self.forwarding = ForwardingGraph(speaking, max_subscriber_video=max_subscriber_video)
        self.video = VideoCounters()  # the video forwarding, for /metrics
        self._names: dict[str, str] = {}  # everyone who spoke here, for attribution after leaving
        self.mode = mode
        self._captioning = captioning
        self._events = events
        self._speech_mark = 0.0  # speech before this room time has been reported
        self._activity = VoiceActivity()
        self._timelines: dict[str, TrackTimeline] = {}
        self._health = _HealthWatch()
        self._delay = CaptionDelay()
        self.caption_delay: float | None = None  # seconds behind speech, while delayed
        self.human = HumanCaptions(name, stream_id)  # a human captioner's lines, who sees what
        self._closed = False
        self.presence = Presence(presence)  # joins and leaves, for those who take them batched
        self._presence_flush: asyncio.TimerHandle | None = None
        # `participant-media` for a participant whose join is still held for the recipient (by
        # recipient, then participant): sent right after that recipient's batch.
        self._held_media: dict[str, dict[str, Encoded]] = {}
        # Every stream until its last step ran; in per-speaker mode, one per participant.
        self._streams: dict[str, CaptionStream] = {}
        self._speaker_streams: dict[str, CaptionStream] = {}
        self._mix: CaptionStream | None = None
        if mode is CaptionMode.MIXED:
            self._mix = self._open_stream(stream_id, self.speaker_at)
        self.state = self._health.check(captioning, self.live_streams)
        self._pump = asyncio.ensure_future(self._run_pump())

    def now(self) -> float:
        """Seconds on the room clock."""
        return time.monotonic() - self._monotonic_origin

    # --- membership ------------------------------------------------------------------------------

    def add(self, participant: Participant) -> None:
        self._tell_one_by_one(ParticipantJoined(participant.info))
        self.presence.joined(participant.info, self.now(), batched=participant.batch_presence)
        self._presence_changed()
        self.participants[participant.id] = participant
        self.forwarding.join(participant)
        self._names[participant.id] = participant.name
        if self.mode is CaptionMode.PER_SPEAKER:
            speaker = Speaker(participant.id, participant.name)
            self._speaker_streams[participant.id] = self._open_stream(
                f"{self.stream_id}/{participant.id}", lambda _start, _end: speaker
            )
            self._update_state()
        self._update_language()

    async def remove(self, participant: Participant) -> None:
        if self.participants.pop(participant.id, None) is None:
            return
        # Told at once, before anything awaits: one who joins meanwhile, not listed in its
        # `joined`, must not hear that it left.
        self._tell_one_by_one(ParticipantLeft(participant.info))
        self._held_media.pop(participant.id, None)
        self.presence.left(participant.info, self.now())
        self._presence_changed()
        self._timelines.pop(participant.id, None)
        self._activity.remove(participant.id)
        self.human.forget(participant.id)
        stream = self._speaker_streams.pop(participant.id, None)
        try:
            if stream is not None:
                self._close_stream(stream)
            self._update_language()
            await participant.close()
        finally:
            self.forwarding.leave(participant.id)  # those who received it renegotiate

    def _tell_one_by_one(self, event: ParticipantJoined | ParticipantLeft) -> None:
        """To those who did not ask for batches, as PROTOCOL.md has it: one frame per change,
        serialized once for all of them."""
        encoded: Encoded | None = None
        for other in self.participants.values():
            if not other.batch_presence:
                encoded = encoded or Encoded.of(event)
                other.signaling.send_encoded(encoded)

    def _presence_changed(self) -> None:
        if self.presence.full:
            self.flush_presence()
        elif self.presence.deadline is not None and self._presence_flush is None:
            delay = max(0.0, self.presence.deadline - self.now())
            loop = asyncio.get_running_loop()
            self._presence_flush = loop.call_later(delay, self.flush_presence)

    def flush_presence(self) -> None:
        """Send the batched joins and leaves now: each batch serialized once."""
        if self._presence_flush is not None:
            self._presence_flush.cancel()
            self._presence_flush = None
        if not self.presence.pending:
            return
        for batch in self.presence.flush():
            encoded = Encoded.of(batch.message)
            for participant_id in batch.recipients:
                recipient = self.participants.get(participant_id)
                if recipient is not None:
                    recipient.signaling.send_encoded(encoded)
        for recipient_id in list(self._held_media):
            self._send_held_media(recipient_id)

    def flush_presence_for(self, participant: Participant) -> None:
        """Send `participant` the joins and leaves held for it, now (its window goes on for the
        others): before an offer whose sections name participants (msid)."""
        message = self.presence.flush_for(participant.id)
        if message is not None:
            participant.signaling.send_encoded(Encoded.of(message))
        self._send_held_media(participant.id)

    def _send_held_media(self, recipient_id: str) -> None:
        """The `participant-media` held for `recipient_id` until it heard of those joins (a
        participant who has left since is not named: its join was never told either)."""
        held = self._held_media.pop(recipient_id, {})
        recipient = self.participants.get(recipient_id)
        if recipient is None:
            return
        for participant_id, update in held.items():
            if participant_id in self.participants:
                recipient.signaling.send_encoded(update)

    def _update_language(self) -> None:
        """The room's language follows who is present (participants are kept in join order). In
        per-speaker mode a participant who chose a language is captioned in it, whatever the
        room's."""
        chosen = room_language([p.language for p in self.participants.values()])
        self.language = chosen or self.default_language
        if self._mix is not None:
            self._mix.set_language(self.language)
        for participant_id, stream in self._speaker_streams.items():
            participant = self.participants.get(participant_id)
            own = participant.language if participant is not None else None
            stream.set_language(own or self.language)

    @property
    def empty(self) -> bool:
        return not self.participants

    async def close(self) -> None:
        self._closed = True
        self._pump.cancel()
        if self._presence_flush is not None:
            self._presence_flush.cancel()
        try:
            self._report_speech(self.now())
            for participant in list(self.participants.values()):
                await participant.close()
        finally:
            self.participants.clear()
            for stream in list(self._streams.values()):
                self._close_stream(stream)

    @property
    def done(self) -> bool:
        """Closed, and every stream's last captions are out."""
        return self._closed and not self._streams

    @property
    def stream_count(self) -> int:
        """Caption streams open or finishing."""
        return len(self._streams)

    # --- caption streams -------------------------------------------------------------------------

    def _open_stream(self, stream_id: str, speaker_at: SpeakerLookup) -> CaptionStream:
        sink = _StreamSink(self, stream_id)
        stream = CaptionStream(stream_id, self.name, speaker_at, self._captioning, sink, self.now())
        self._streams[stream_id] = stream
        return stream

    def _close_stream(self, stream: CaptionStream) -> None:
        stream.close()
        if stream.finished:  # it never had a slot: nothing more will come
            del self._streams[stream.stream_id]

    @property
    def live_streams(self) -> list[CaptionStream]:
        """Streams that still take audio."""
        if self._mix is not None:
            return [self._mix]
        return list(self._speaker_streams.values())

    @property
    def waiting_streams(self) -> int:
        """Streams refused an engine slot, asking again every second."""
        return sum(1 for s in self.live_streams if not s.admitted)

    # --- audio -----------------------------------------------------------------------------------

    def on_audio(self, participant_id: str, pcm: np.ndarray) -> None:
        timeline = self._timelines.get(participant_id)
        if timeline is None:
            timeline = self._timelines[participant_id] = TrackTimeline()
        start = timeline.place(self.now(), len(pcm) / SAMPLE_RATE)
        stream = self._mix or self._speaker_streams.get(participant_id)
        if stream is not None:
            stream.add(start, pcm)
        self._activity.add(participant_id, start, pcm)

    async def _run_pump(self) -> None:
        """Hand each stream's audio to the captioner as soon as each 80 ms frame is complete, and
        watch the captioner's health for this room."""
        next_check = self.now() + HEALTH_SECONDS
        while True:
            now = self.now()
            for stream in self.live_streams:
                stream.pump(now)
            if now >= next_check:
                next_check += HEALTH_SECONDS
                for stream in self.live_streams:
                    stream.admit(now)
                self._update_state()
                self._report_speech(now - SPEECH_SETTLE_SECONDS)
                if self.human.changed(now):  # a captioner fell idle: automatic captions back
                    self._send_statuses()
            await asyncio.sleep(PUMP_SECONDS)

    def _update_state(self) -> None:
        delay = self._delay.check(self.now())
        state = self._health.check(self._captioning, self.live_streams, delay is not None)
        self._set_state(state, delay)

    def _set_state(self, state: StatusState, delay: float | None = None) -> None:
        if state is not self.state or (delay is None) != (self.caption_delay is None):
            if state is not self.state:
                logger.warning("room %s: captioning is %s", self.name, state.value)
            self.state, self.caption_delay = state, delay
            self._send_statuses()

    def _send_statuses(self) -> None:
        for participant in self.participants.values():
            participant.send_status()

    @property
    def late_audio_seconds(self) -> float:
        return sum(s.late_seconds for s in self._streams.values())

    @property
    def forwarded_packets_dropped(self) -> int:
        return self.forwarding.dropped

    # --- captions --------------------------------------------------------------------------------

    def speaker_at(self, start: float, end: float) -> Speaker | None:
        # Who spoke during the words themselves first: with the lookup's margin around them, the
        # first word of a turn went to the previous speaker, whose last syllables are louder
        # than a new speaker's first (issue 20, item 6). The margin is for words the alignment
        # placed a little off any speech.
        participant_id = self._activity.dominant(start, end, margin=0.0)
        participant_id = participant_id or self._activity.dominant(start, end)
        if participant_id is None:
            return None
        return Speaker(participant_id, self._names.get(participant_id, participant_id))

    def on_update(self, update: StreamUpdate) -> None:
        stream = self._streams.get(update.stream_id)
        if stream is not None:
            for caption in stream.feed(update):
                self.deliver(caption)

    def finish(self, stream_id: str) -> None:
        """A stream's last step ran: close its open segment and forget it."""
        stream = self._streams.pop(stream_id, None)
        if stream is not None:
            for caption in stream.finish():
                self.deliver(caption)
            if self.done:
                self._events.on_done(self)

    def deliver(self, caption: Caption) -> None:
        """To every participant who sees captions of its source now; to the log in any case.
        An automatic caption's lag behind speech is what the delay notice reports."""
        now = self.now()
        if caption.text and not caption.human:
            self._delay.observe(now, now - caption.end)
        for participant in self.participants.values():
            if self.human.shows(participant.id, caption, now):
                participant.send_caption(caption)
        self._events.on_caption(self, caption)

    # --- human captions (sfu/rooms/human.py) ---------------------------------------------------

    def human_line(self, identity: str, name: str, line: Line) -> Accepted:
        """A captioner's line, shown to the room; see HumanCaptions.take for its errors."""
        now = self.now()
        accepted, captions = self.human.take(identity, name, line, self.language, now)
        for caption in captions:
            self.deliver(caption)
        if self.human.changed(now):
            self._send_statuses()
        return accepted

    def set_human_mode(self, mode: HumanMode) -> None:
        if mode is not self.human.mode:
            self.human.mode = mode
            self._send_statuses()

    def choose_captions(self, participant: Participant, choice: CaptionChoice) -> None:
        self.human.choose(participant.id, choice)
        participant.send_status()

    def human_status(self, participant_id: str) -> HumanStatus | None:
        return self.human.status(participant_id, self.now())

    def media_changed(self, participant: Participant) -> None:
        media = participant.media
        if media is None:
            return
        update = Encoded.of(ParticipantMedia(participant.id, media.camera, media.screen))
        for other in self.participants.values():
            if other is participant:
                continue
            if self.presence.holds_join_of(other.id, participant.id):
                # Who it is comes before what it sends, in the recipient's next batch: flushing
                # the room here would cost a frame per recipient per join in a storm of pages
                # that each say their camera state at once.
                self._held_media.setdefault(other.id, {})[participant.id] = update
            else:
                other.signaling.send_encoded(update)

    def media_states(self, but: str) -> list[ParticipantMedia]:
        """What each other participant said it sends, for one who joins."""
        return [
            ParticipantMedia(p.id, p.media.camera, p.media.screen)
            for p in self.participants.values()
            if p.id != but and p.media is not None
        ]

    def flag(self, participant: Participant, segment: str, reason: str) -> None:
        self._events.on_flag(self, participant, segment, reason)

    def _report_speech(self, upto: float) -> None:
        if upto > self._speech_mark:
            spans = self._activity.speech_spans(self._speech_mark, upto)
            self._speech_mark = upto
            if spans:
                self._events.on_speech(self, spans)


class _StreamSink:
    """Where the captioning port sends one stream's results: back to its room."""

    def __init__(self, room: Room, stream_id: str) -> None:
        self._room = room
        self._stream_id = stream_id

    def on_update(self, update: StreamUpdate) -> None:
        self._room.on_update(update)

    def on_finished(self) -> None:
        self._room.finish(self._stream_id)
