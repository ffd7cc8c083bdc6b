"""One participant: signaling over a WebSocket, an aiortc peer, the `captions` channel."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCDataChannel, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from client.browsers import AIORTC, BrowserShape
from protocol import (
    Answer,
    Caption,
    ErrorMessage,
    Feature,
    Join,
    Joined,
    Leave,
    MediaState,
    Offer,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantMedia,
    Participants,
    ServerAnswer,
    ServerOffer,
    Status,
    SubtitlesToggle,
    VideoSection,
    VideoSections,
    View,
)
from protocol.captions import Flag, parse_channel_message, serialize_channel_message
from protocol.jsep import sections, violations
from protocol.signaling import parse_server_frame, serialize
from sfu.media.ice import remote_description, restrict_host_addresses, rtc_configuration


@dataclass(frozen=True)
class ReceivedCaption:
    caption: Caption
    received_at: float  # unix


class CaptionClient:
    def __init__(
        self,
        url: str,
        *,
        room: str,
        name: str,
        audio: MediaStreamTrack | None = None,
        subtitles: bool = True,
        token: str = "",
        ice_hosts: Sequence[str] = ("127.0.0.1",),
        shape: BrowserShape = AIORTC,
        language: str | None = None,
        answer_when_connected: bool = False,
        camera: MediaStreamTrack | None = None,
        batch_presence: bool = True,
    ) -> None:
        """`shape`: write offers and answers as this browser does (`client.browsers`: Chromium
        offers Opus as 111 where aiortc says 96; Firefox answers a section a re-offer adds as DTLS
        client), so that tests see what a server does with a browser's choices.
        `answer_when_connected`: answer a server offer only once the connection is up, as a
        browser may (the server's first re-offer is then pending while media starts).
        `camera`: a video track to publish as this participant's camera (a first video section,
        `sendonly`; aiortc encodes it as VP8).
        `batch_presence`: ask for joins and leaves in `participants` batches (join.features; a
        v1 extension), else one `participant-joined`/`participant-left` frame each."""
        self.url = url
        self.language = language  # join.language: the captions this participant asks for
        self.room = room
        self.name = name
        self.audio = audio
        self.subtitles = subtitles
        self.token = token
        self.ice_hosts = tuple(ice_hosts)
        self.shape = shape
        self.answer_when_connected = answer_when_connected
        self.camera = camera
        self.batch_presence = batch_presence
        self.video_frames_by_mid: dict[str, int] = {}  # decoded video frames per media section
        self.video_sizes: dict[str, tuple[int, int]] = {}  # the last frame's size, per section
        self.media: dict[str, ParticipantMedia] = {}  # the others' camera/screen state
        # Participants a `participant-media` named before this client heard of their join: the
        # server promises none (docs/protocol-notes.md, "Joins and leaves in batches").
        self.media_of_strangers: list[str] = []
        # Once this client sent `view`: the source each server video section carries now, and
        # the frames decoded per (participant, source) as the sections said when they came.
        self.video_sections: dict[str, VideoSection] | None = None
        self.video_frames_by_source: dict[tuple[str, str], int] = {}
        self.connected = asyncio.Event()
        self.joined: Joined | None = None
        self.captions: list[ReceivedCaption] = []
        self.statuses: list[Status] = []
        self.errors: list[ErrorMessage] = []
        self.channel: RTCDataChannel | None = None
        # Joins and leaves of others, one per change (a `participants` batch is unfolded).
        self.events: list[ParticipantJoined | ParticipantLeft] = []
        self.people: dict[str, ParticipantInfo] = {}  # the others in the room, in join order
        self.presence_frames = 0  # frames that told of joins and leaves, and their bytes
        self.presence_bytes = 0
        self.remote_audio_peak = 0.0  # peak level of the audio forwarded to us
        self.remote_audio_frames = 0
        self._frames_by_mid: dict[str, int] = {}  # audio frames received per media section
        # Every way a server offer broke what was negotiated before (JSEP: it must not).
        self.negotiation_violations: list[str] = []
        self.offers = 0  # server offers received
        self.changed = asyncio.Condition()
        self.pc: RTCPeerConnection | None = None
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._answer: asyncio.Future[ServerAnswer] | None = None
        self.channel_open = asyncio.Event()

    # --- joining -------------------------------------------------------------------------------

    async def connect(self) -> None:
        self._ws = await connect(self.url, max_size=None)
        self._reader = asyncio.ensure_future(self._read())

    async def send_frame(self, frame: str) -> None:
        assert self._ws is not None
        await self._ws.send(frame)

    async def join_without_media(self, timeout: float = 10.0) -> Joined:
        """Connect and join, and offer nothing: in the room, told who comes and goes, with no
        peer connection (PROTOCOL.md lets the offer come later; cheap clients for a storm)."""
        if self._ws is None:
            await self.connect()
        features = frozenset({Feature.PARTICIPANTS.value}) if self.batch_presence else frozenset()
        join = Join(self.room, self.name, self.token, self.subtitles, self.language, features)
        await self.send_frame(serialize(join))
        await self.wait_for(lambda: self.joined is not None or bool(self.errors), timeout)
        if self.joined is None:
            raise RuntimeError(f"join refused: {self.errors[-1]}")
        return self.joined

    async def join(self, timeout: float = 10.0) -> Joined:
        """Connect, join, and complete the first offer/answer."""
        if self.ice_hosts:
            restrict_host_addresses(self.ice_hosts)
        await self.join_without_media(timeout)
        self.pc = pc = RTCPeerConnection(rtc_configuration())
        transceiver = pc.addTransceiver("audio", direction="sendrecv")
        if self.audio is not None:
            transceiver.sender.replaceTrack(self.audio)
        if self.camera is not None:
            pc.addTransceiver(self.camera, direction="sendonly")
        self.channel = channel = pc.createDataChannel("captions")
        channel.on("message", self._on_caption_message)
        channel.on("open", self.channel_open.set)
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_connection_state)
        await pc.setLocalDescription(await pc.createOffer())
        self._answer = asyncio.get_running_loop().create_future()
        await self.send_frame(serialize(Offer(self.shape.offer(pc.localDescription.sdp))))
        await asyncio.wait_for(self._answer, timeout)
        await asyncio.wait_for(self.channel_open.wait(), timeout)
        assert self.joined is not None
        return self.joined

    # --- signaling -----------------------------------------------------------------------------

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for frame in self._ws:
                message = parse_server_frame(frame)
                if isinstance(message, Joined):
                    self.joined = message
                    self.people = {p.id: p for p in message.participants}
                elif isinstance(message, ParticipantJoined | ParticipantLeft | Participants):
                    self.presence_frames += 1
                    self.presence_bytes += len(frame)
                    self._presence(message)
                elif isinstance(message, ServerAnswer):
                    # Applied here, in order: a server offer may follow right behind it.
                    assert self.pc is not None
                    await self.pc.setRemoteDescription(
                        remote_description(message.sdp, "answer", self.ice_hosts)
                    )
                    if self._answer is not None and not self._answer.done():
                        self._answer.set_result(message)
                elif isinstance(message, ServerOffer):
                    await self._renegotiate(message)
                elif isinstance(message, ErrorMessage):
                    self.errors.append(message)
                elif isinstance(message, ParticipantMedia):
                    if message.participant not in self.people:
                        self.media_of_strangers.append(message.participant)
                    self.media[message.participant] = message
                elif isinstance(message, VideoSections):
                    self.video_sections = {s.mid: s for s in message.sections}
                await self._notify()
        except ConnectionClosed:
            pass
        finally:
            await self._notify()

    def _presence(self, message: ParticipantJoined | ParticipantLeft | Participants) -> None:
        events: list[ParticipantJoined | ParticipantLeft]
        if isinstance(message, Participants):
            events = [
                *(ParticipantLeft(p) for p in message.left),
                *(ParticipantJoined(p) for p in message.joined),
            ]
        else:
            events = [message]
        for event in events:
            if isinstance(event, ParticipantJoined):
                self.people[event.participant.id] = event.participant
            else:
                self.people.pop(event.participant.id, None)
        self.events.extend(events)

    def _on_connection_state(self) -> None:
        if self.pc is not None and self.pc.connectionState == "connected":
            self.connected.set()

    async def _renegotiate(self, offer: ServerOffer) -> None:
        assert self.pc is not None
        self.offers += 1
        if self.answer_when_connected:
            await self.connected.wait()
        agreed = sections(self.pc.remoteDescription.sdp)
        known = {s.mid for s in sections(self.pc.localDescription.sdp) if s.mid is not None}
        self.negotiation_violations.extend(violations(agreed, offer.sdp))
        await self.pc.setRemoteDescription(remote_description(offer.sdp, "offer", self.ice_hosts))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        answer = self.shape.answer(self.pc.localDescription.sdp, offer.sdp, known)
        await self.send_frame(serialize(Answer(answer)))

    async def set_media(self, *, camera: bool, screen: bool = False) -> None:
        """Say which video this client sends (a v1 extension: camera on/off without
        renegotiation)."""
        await self.send_frame(serialize(MediaState(camera, screen)))

    async def view(self, pinned: Sequence[str] = (), visible: Sequence[str] = ()) -> None:
        """Say which tiles this client pinned and which it shows (a v1 extension): the server
        then sends `video-sections`, and `video_from` follows them."""
        await self.send_frame(serialize(View(tuple(pinned), tuple(visible))))

    async def set_subtitles(self, enabled: bool) -> None:
        await self.send_frame(serialize(SubtitlesToggle(enabled)))

    def flag(self, segment: str | None = None, reason: str = "") -> None:
        """Mark a caption as wrong (the last final one by default): a v1 extension."""
        assert self.channel is not None, "join first"
        self.channel.send(serialize_channel_message(Flag(segment, reason)))

    def send_channel(self, data: str) -> None:
        """Raw text on the captions channel (tests of the server's validation)."""
        assert self.channel is not None, "join first"
        self.channel.send(data)

    @property
    def closed(self) -> bool:
        return self._ws is None or self._ws.close_code is not None

    @property
    def close_code(self) -> int | None:
        return self._ws.close_code if self._ws is not None else None

    # --- media ---------------------------------------------------------------------------------

    def _on_caption_message(self, data: str | bytes) -> None:
        message = parse_channel_message(data)
        if isinstance(message, Caption):
            self.captions.append(ReceivedCaption(message, time.time()))
        else:
            self.statuses.append(message)
        task = asyncio.ensure_future(self._notify())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_track(self, track: MediaStreamTrack) -> None:
        assert self.pc is not None
        mid = next(t.mid for t in self.pc.getTransceivers() if t.receiver.track is track)
        task = asyncio.ensure_future(self._listen(track, mid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _listen(self, track: MediaStreamTrack, mid: str | None) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if isinstance(frame, av.VideoFrame):
                if mid is not None:
                    self.video_frames_by_mid[mid] = self.video_frames_by_mid.get(mid, 0) + 1
                    self.video_sizes[mid] = (frame.width, frame.height)
                    section = (self.video_sections or {}).get(mid)
                    if section is not None:
                        key = (section.participant, section.source)
                        counts = self.video_frames_by_source
                        counts[key] = counts.get(key, 0) + 1
                continue
            assert isinstance(frame, av.AudioFrame)
            samples = frame.to_ndarray().astype(np.float32) / 32768.0
            self.remote_audio_peak = max(self.remote_audio_peak, float(np.abs(samples).max()))
            self.remote_audio_frames += 1
            if mid is not None:
                self._frames_by_mid[mid] = self._frames_by_mid.get(mid, 0) + 1

    @property
    def frames_from(self) -> dict[str, int]:
        """Audio frames received per source participant: the server names the source of each
        forwarded track in its msid stream id (docs/protocol-notes.md)."""
        if self.pc is None or self.pc.remoteDescription is None:
            return {}
        stream_of = {s.mid: s.stream for s in sections(self.pc.remoteDescription.sdp)}
        frames: dict[str, int] = {}
        for mid, count in self._frames_by_mid.items():
            source = stream_of.get(mid)
            if source is not None:
                frames[source] = frames.get(source, 0) + count
        return frames

    @property
    def video_from(self) -> dict[str, dict[str, int]]:
        """Decoded video frames per source participant and source (`camera`, `screen`): the
        server names them in each forwarded section's msid (docs/protocol-notes.md, "Video"), or,
        once this client sent `view`, in `video-sections`."""
        if self.video_sections is not None:
            by_participant: dict[str, dict[str, int]] = {}
            for (participant, source), count in self.video_frames_by_source.items():
                by_participant.setdefault(participant, {})[source] = count
            return by_participant
        if self.pc is None or self.pc.remoteDescription is None:
            return {}
        named = {s.mid: s for s in sections(self.pc.remoteDescription.sdp)}
        frames: dict[str, dict[str, int]] = {}
        for mid, count in self.video_frames_by_mid.items():
            section = named.get(mid)
            if section is None or section.stream is None or section.source is None:
                continue
            by_source = frames.setdefault(section.stream, {})
            by_source[section.source] = by_source.get(section.source, 0) + count
        return frames

    # --- waiting -------------------------------------------------------------------------------

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, predicate: Callable[[], object], timeout: float) -> None:
        """Wait until `predicate()` holds, woken by every message received."""
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(predicate), timeout)

    # --- results -------------------------------------------------------------------------------

    def finals(self) -> list[Caption]:
        return [r.caption for r in self.captions if r.caption.final]

    def final_text(self) -> str:
        return " ".join(c.text for c in self.finals() if c.text)

    def latency(self, received: ReceivedCaption) -> float:
        assert self.joined is not None
        return received.received_at - (self.joined.clock_origin + received.caption.end)

    # --- leaving -------------------------------------------------------------------------------

    async def leave(self) -> None:
        if self._ws is not None and self._ws.close_code is None:
            with contextlib.suppress(ConnectionClosed):
                await self.send_frame(serialize(Leave()))
        await self.close()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for task in list(self._tasks):
            task.cancel()
        if self.pc is not None:
            await self.pc.close()
