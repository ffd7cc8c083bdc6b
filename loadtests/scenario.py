"""What a load-test participant does and what it measures, without locust: usable and testable
on its own. The locustfile only adapts it to locust's users and events."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from client import CaptionClient, WavTrack, load_audio
from client.audio import RATE
from client.listener import Listener
from client.speech import synthesize, word_error_rate

# (kind, name, value, error, detail): kind is "join", "first_caption", "caption_latency", "wer",
# "delivery" or "failure"; value in seconds (a ratio for "wer" and "delivery": packets received
# over expected, with both counts in detail); detail: what the value was measured on.
Detail = Mapping[str, object]
Report = Callable[[str, str, float, str | None, Detail | None], None]


@dataclass(frozen=True)
class Clip:
    pcm: np.ndarray  # 48 kHz mono
    text: str
    language: str | None = None  # what its speaker and listeners ask for (join.language)


@dataclass(frozen=True, kw_only=True)
class Scenario:
    url: str  # one signaling URL, or several separated by commas (the nodes of a cluster)
    clips: tuple[Clip, ...]
    room_size: int = 2
    speakers_per_room: int = 1
    room_prefix: str = "load"
    turn_gap: float = 3.0  # silence between two plays of the clip
    # Listeners decode every packet like a real participant (costly) instead of counting it.
    full_listeners: bool = False

    def url_of(self, index: int) -> str:
        """The node the `index`-th participant connects to: users are spread over the URLs in
        turn, shifted by one for each room, so that the participants of one room arrive through
        different nodes (signaling is relayed) and rooms are first joined, hence owned, on every
        node in turn."""
        urls = [u.strip() for u in self.url.split(",") if u.strip()]
        return urls[(index + index // self.room_size) % len(urls)]

    def role(self, index: int) -> tuple[str, bool]:
        """Room and speaking role of the `index`-th participant (0-based): rooms fill in order."""
        room = f"{self.room_prefix}-{index // self.room_size}"
        return room, index % self.room_size < self.speakers_per_room

    def language_of(self, index: int) -> str | None:
        """What the `index`-th participant asks for: the language of its room's first speaker's
        clip, so that a room's participants agree."""
        first = index - index % self.room_size
        return self.clips[first % len(self.clips)].language


@dataclass
class Turn:
    start: float  # room time
    end: float
    text: str


@dataclass
class ParticipantRun:
    """One participant: joins, speaks in turns (or listens), reports what it measured."""

    scenario: Scenario
    index: int
    report: Report
    turns: list[Turn] = field(default_factory=list)
    client: CaptionClient | None = None
    _reported: set[str] = field(default_factory=set)
    _errors_seen: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        room, speaking = self.scenario.role(self.index)
        clip = self.scenario.clips[self.index % len(self.scenario.clips)]
        pcm = clip.pcm
        track: WavTrack | None = None
        if speaking:
            gap = np.zeros(round(self.scenario.turn_gap * RATE), np.float32)
            track = WavTrack(np.concatenate([pcm, gap]), loop=True)
        name = f"{'speaker' if speaking else 'listener'}-{self.index}"
        node = self.scenario.url_of(self.index)
        language = self.scenario.language_of(self.index)
        if speaking or self.scenario.full_listeners:
            client = CaptionClient(node, room=room, name=name, audio=track, language=language)
        else:
            client = Listener(node, room=room, name=name, language=language)
        self.client = client
        started = time.perf_counter()
        try:
            await client.join(timeout=20)
        except Exception as exc:  # join refused, ICE or DTLS failed, timeout
            elapsed = time.perf_counter() - started
            self.report("failure", "join", elapsed, f"{exc!r}", {"node": node})
            return
        elapsed = time.perf_counter() - started
        self.report("join", "join", elapsed, None, {"room": room, "node": node})
        joined_at = time.perf_counter()
        first: asyncio.Task[None] | None = asyncio.ensure_future(
            client.wait_for(lambda: bool(client.captions), 60)
        )
        seen = 0
        try:
            while not stop.is_set():
                if first is not None and first.done():
                    if first.exception() is None:
                        elapsed = time.perf_counter() - joined_at
                        self.report("first_caption", "first caption", elapsed, None, None)
                    else:
                        self.report("failure", "first caption", 60.0, "no caption in 60 s", None)
                    first = None
                seen = self._report_captions(seen)
                self._check_health()
                if speaking and track is not None:
                    self._score_turns(track, pcm, clip.text)
                await asyncio.sleep(0.25)
        finally:
            if first is not None:
                first.cancel()
            if isinstance(client, Listener):
                self._report_delivery(client, room)
            await client.leave()

    def _report_delivery(self, listener: Listener, room: str) -> None:
        """Forwarded packets received against expected (sequence span), per source."""
        for source, delivery in listener.delivery().items():
            if delivery.expected:
                detail = {
                    "room": room,
                    "source": source,
                    "received": delivery.received,
                    "expected": delivery.expected,
                }
                ratio = delivery.received / delivery.expected
                self.report("delivery", "forwarded packets", ratio, None, detail)

    def _report_captions(self, seen: int) -> int:
        assert self.client is not None
        for received in self.client.captions[seen:]:
            caption = received.caption
            if caption.final and caption.text:
                detail = {
                    "room": caption.room,
                    "segment": caption.segment,
                    "start": caption.start,
                    "end": caption.end,
                    "text": caption.text,
                    "node": self.client.url,
                }
                self.report(
                    "caption_latency", "final caption", self.client.latency(received), None, detail
                )
        return len(self.client.captions)

    def _check_health(self) -> None:
        client = self.client
        assert client is not None
        for error in client.errors[self._errors_seen :]:
            self.report("failure", f"error {error.code.value}", 0.0, error.message, None)
        self._errors_seen = len(client.errors)
        if client.closed and "closed" not in self._reported:
            self._reported.add("closed")
            self.report("failure", "signaling closed", 0.0, f"close {client.close_code}", None)
        failed = client.pc is not None and client.pc.connectionState == "failed"
        if failed and "ice" not in self._reported:
            self._reported.add("ice")
            self.report("failure", "ICE failed", 0.0, "peer connection failed", None)

    def _score_turns(self, track: WavTrack, pcm: np.ndarray, text: str) -> None:
        """A speaker scores each play of its clip once the captions had time to settle."""
        client = self.client
        assert client is not None and client.joined is not None
        if track.started_at is None:
            return
        origin = track.started_at - client.joined.clock_origin
        period = track.duration
        played = int((time.time() - track.started_at) // period)
        speech = len(pcm) / RATE
        while len(self.turns) < played:
            start = origin + len(self.turns) * period
            self.turns.append(Turn(start, start + speech, text))
        now = time.time() - client.joined.clock_origin
        for turn in self.turns:
            key = f"turn-{turn.start:.2f}"
            if key in self._reported or now < turn.end + 4.0:
                continue
            self._reported.add(key)
            said = " ".join(
                c.text
                for c in client.finals()
                if c.text and turn.start - 0.5 <= (c.start + c.end) / 2 <= turn.end + 1.0
            )
            detail = {"start": turn.start, "end": turn.end, "captioned": said}
            self.report("wer", "wer", word_error_rate(turn.text, said), None, detail)


class ClipsError(Exception):
    """A clips file that cannot be used: the message says which entry and what to do."""


def check_clips(spec: str) -> list[dict[str, str]]:
    """The entries of the clips file `spec`, each checked (its audio file exists) before any
    participant starts: a bad clips file stops the run with one line, not an empty summary."""
    path = Path(spec)
    try:
        entries = json.loads(path.read_text())
    except OSError as exc:
        raise ClipsError(
            f"clips file {spec} cannot be read ({exc.strerror}): pass --clips"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ClipsError(f"clips file {spec} is not JSON ({exc}): fix it") from exc
    if not isinstance(entries, list) or not entries:
        raise ClipsError(f"clips file {spec} must be a non-empty JSON list of clips")
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not (
            isinstance(entry.get("speak"), str)
            or (isinstance(entry.get("audio"), str) and isinstance(entry.get("text"), str))
        ):
            raise ClipsError(
                f'clips file {spec}, clip {number}: give {{"audio": path, "text": reference}}'
                ' or {"speak": text}'
            )
        if "speak" not in entry:
            audio = (path.parent / entry["audio"]).resolve()
            if not audio.is_file():
                raise ClipsError(
                    f"clips file {spec}, clip {number}: audio file {audio} does not exist: fix "
                    'its "audio" (a path relative to the clips file) or pass another --clips'
                )
    return entries


def load_clips(spec: str) -> tuple[Clip, ...]:
    """`spec`: a JSON file of clips, each {"audio": path relative to the file, "text": reference}
    or {"speak": text, "voice": espeak-ng voice} (synthesised here, at 120 words a minute), with
    an optional "language" that every participant of its rooms asks for. ClipsError if it cannot
    be used."""
    path = Path(spec)
    clips = []
    for entry in check_clips(spec):
        if "speak" in entry:
            text = entry["speak"]
            pcm = synthesize(text, voice=entry.get("voice", "en-us"), words_per_minute=120)
        else:
            text, pcm = entry["text"], load_audio((path.parent / entry["audio"]).resolve())
        clips.append(Clip(pcm, text, entry.get("language")))
    return tuple(clips)
