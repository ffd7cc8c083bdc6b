"""What the caption log keeps of a room: its session, final captions, speech, flags."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from captionlog.log import CaptionLog
from captionlog.records import Flag, Segment, Session, SpeechSpan
from protocol import Caption

if TYPE_CHECKING:
    from sfu.rooms.participant import Participant
    from sfu.rooms.room import Room


class CaptionRecorder:
    def __init__(self, log: CaptionLog) -> None:
        self.log = log

    def session_started(self, room: Room) -> None:
        self.log.session_started(
            Session(
                id=room.session_id,
                room=room.name,
                started_unix=room.clock_origin,
                clock_origin=room.clock_origin,
                engine=room.engine_name,
                mode=room.mode.value,
            )
        )

    def session_ended(self, room: Room) -> None:
        self.log.session_ended(room.session_id, time.time())

    def caption(self, room: Room, caption: Caption, latency: float) -> None:
        """Final captions with text are the log, a human captioner's lines marked as theirs;
        partial ones and withdrawals are not."""
        if not caption.final or not caption.text:
            return
        speaker = caption.speaker
        self.log.segment(
            Segment(
                session_id=room.session_id,
                segment=caption.segment,
                speaker_id=speaker.id if speaker else None,
                speaker_name=speaker.name if speaker else None,
                start=caption.start,
                end=caption.end,
                start_unix=room.clock_origin + caption.start,
                end_unix=room.clock_origin + caption.end,
                text=caption.text,
                words=[w.to_json() for w in caption.words or ()],
                language=caption.language,
                engine=room.engine_name,
                latency=round(max(0.0, latency), 4),
                source=caption.source.value,
                captioner=caption.captioner,
            )
        )

    def speech(self, room: Room, spans: list[tuple[float, float]]) -> None:
        self.log.speech(room.session_id, [SpeechSpan(a, b) for a, b in spans])

    def flag(self, room: Room, participant: Participant, segment: str, reason: str) -> None:
        self.log.flag(
            Flag(
                session_id=room.session_id,
                segment=segment,
                participant_id=participant.id,
                participant_name=participant.name,
                flagged_unix=time.time(),
                reason=reason,
            )
        )
