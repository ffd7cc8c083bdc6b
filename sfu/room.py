"""A room: its participants, its clock, its audio tap, and its captions."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import numpy as np

from captioner.assembler import CaptionAssembler
from captioner.engine import SAMPLE_RATE, StreamUpdate
from captioner.scheduler import CaptionScheduler
from protocol import Caption, ParticipantJoined, ParticipantLeft, Speaker, StatusState

from .participant import Participant
from .tap import RoomMixer, TrackTimeline, VoiceActivity

logger = logging.getLogger(__name__)

PUMP_SECONDS = 0.04
HEALTH_SECONDS = 1.0

CaptionListener = Callable[["Room", Caption], None]


class _HealthWatch:
    """Captioning state of one room from the scheduler's counters: unavailable when the inference
    thread is gone, degraded while audio is being dropped or steps fail, ok otherwise."""

    def __init__(self) -> None:
        self._dropped = 0.0
        self._failures = 0

    def check(self, scheduler: CaptionScheduler, stream_id: str) -> StatusState:
        if not scheduler.running:
            return StatusState.UNAVAILABLE
        stats = scheduler.stats()
        dropped = stats.dropped_seconds.get(stream_id, 0.0)
        worse = dropped > self._dropped or stats.failures > self._failures
        self._dropped, self._failures = dropped, stats.failures
        return StatusState.DEGRADED if worse else StatusState.OK


class Room:
    def __init__(
        self,
        *,
        name: str,
        stream_id: str,
        scheduler: CaptionScheduler,
        engine_name: str,
        languages: tuple[str, ...],
        on_caption: CaptionListener,
    ) -> None:
        self.name = name
        self.stream_id = stream_id
        self.engine_name = engine_name
        self.languages = languages
        self.clock_origin = time.time()  # unix time of room-clock zero
        self._monotonic_origin = time.monotonic()
        self.participants: dict[str, Participant] = {}
        self.state = StatusState.OK
        self._names: dict[str, str] = {}  # everyone who spoke here, for attribution after leaving
        self._scheduler = scheduler
        self._on_caption = on_caption
        self._mixer = RoomMixer()
        self._activity = VoiceActivity()
        self._timelines: dict[str, TrackTimeline] = {}
        self.assembler = CaptionAssembler(name, stream_id, self.speaker_at)
        scheduler.open_stream(stream_id, 0.0)
        self._pump = asyncio.ensure_future(self._run_pump())

    def now(self) -> float:
        """Seconds on the room clock."""
        return time.monotonic() - self._monotonic_origin

    # --- membership ------------------------------------------------------------------------------

    def add(self, participant: Participant) -> None:
        for other in self.participants.values():
            other.signaling.send(ParticipantJoined(participant.info))
        self.participants[participant.id] = participant
        self._names[participant.id] = participant.name

    async def remove(self, participant: Participant) -> None:
        if self.participants.pop(participant.id, None) is None:
            return
        self._timelines.pop(participant.id, None)
        self._activity.remove(participant.id)
        await participant.close()
        for other in self.participants.values():
            if other.packet_tap is not None:
                other.packet_tap.unsubscribe(participant.id)
            other.signaling.send(ParticipantLeft(participant.info))
            other.spawn(other.renegotiate())

    def inbound_ready(self, participant: Participant) -> None:
        """A participant's audio arrives: forward it to everyone else."""
        for other in self.participants.values():
            if other is not participant:
                other.spawn(other.renegotiate())

    @property
    def empty(self) -> bool:
        return not self.participants

    async def close(self) -> None:
        self._pump.cancel()
        for participant in list(self.participants.values()):
            await participant.close()
        self.participants.clear()
        self._scheduler.close_stream(self.stream_id)

    # --- audio -----------------------------------------------------------------------------------

    def on_audio(self, participant_id: str, pcm: np.ndarray) -> None:
        timeline = self._timelines.get(participant_id)
        if timeline is None:
            timeline = self._timelines[participant_id] = TrackTimeline()
        start = timeline.place(self.now(), len(pcm) / SAMPLE_RATE)
        self._mixer.add(start, pcm)
        self._activity.add(participant_id, start, pcm)

    async def _run_pump(self) -> None:
        """Hand the mixed audio to the captioner as soon as each 80 ms frame is complete, and
        watch the captioner's health for this room."""
        health = _HealthWatch()
        next_check = self.now() + HEALTH_SECONDS
        while True:
            block = self._mixer.flush(self.now())
            if block is not None:
                self._scheduler.push(self.stream_id, block[0], block[1])
            if self.now() >= next_check:
                next_check += HEALTH_SECONDS
                self._set_state(health.check(self._scheduler, self.stream_id))
            await asyncio.sleep(PUMP_SECONDS)

    def _set_state(self, state: StatusState) -> None:
        if state is not self.state:
            logger.warning("room %s: captioning is %s", self.name, state.value)
            self.state = state
            for participant in self.participants.values():
                participant.send_status()

    @property
    def late_audio_seconds(self) -> float:
        return self._mixer.late_seconds

    @property
    def forwarded_packets_dropped(self) -> int:
        return sum(
            track.dropped for p in self.participants.values() for _, track in p.senders.values()
        )

    # --- captions --------------------------------------------------------------------------------

    def speaker_at(self, start: float, end: float) -> Speaker | None:
        participant_id = self._activity.dominant(start, end)
        if participant_id is None:
            return None
        return Speaker(participant_id, self._names.get(participant_id, participant_id))

    def on_update(self, update: StreamUpdate) -> None:
        for caption in self.assembler.feed(update):
            self.deliver(caption)

    def finish(self) -> None:
        """The stream's last step ran: close the open segment."""
        for caption in self.assembler.close():
            self.deliver(caption)

    def deliver(self, caption: Caption) -> None:
        for participant in self.participants.values():
            participant.send_caption(caption)
        self._on_caption(self, caption)
