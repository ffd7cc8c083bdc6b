"""One participant: its aiortc peer, its `captions` channel, the audio forwarded to it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import replace
from typing import Any, Protocol

import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCDataChannel,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from access.grants import DEFAULT_GRANTS, Grant
from captioner.engine import SAMPLE_RATE
from protocol import (
    Caption,
    CaptionChoice,
    CaptionSources,
    Encoded,
    Flag,
    HumanStatus,
    MediaState,
    ParticipantInfo,
    ServerMessage,
    ServerOffer,
    Status,
    VideoSection,
    VideoSections,
    View,
    parse_client_channel_message,
)
from protocol.captions import StatusState, serialize_channel_message
from protocol.errors import ErrorCode, ProtocolError
from protocol.jsep import Negotiated
from protocol.sdp import video_sources, with_opus_dtx
from protocol.session import CloseCode
from sfu.media.forwarding import OPUS_CLOCK, ForwardedAudioTrack, PacketTap
from sfu.media.ice import PEER_REFLEXIVE_WAIT, remote_description
from sfu.media.sender import DirectSender
from sfu.media.video import (
    FORWARDED_CODECS,
    VIDEO_CLOCK,
    ForwardedVideoTrack,
    VideoCounters,
    VideoTap,
    forward_through,
)
from sfu.rooms.graph import CameraView, ForwardingGraph, MediaKind, SourceKey

logger = logging.getLogger(__name__)

CAPTIONS_LABEL = "captions"
MAX_FLAGS = 100  # per participant: flags are for reviewers, not a chat
MAX_FLAGGABLE = 500  # the last final captions a participant may flag


ForwardedTrack = ForwardedAudioTrack | ForwardedVideoTrack


class Signaling(Protocol):
    """What a participant needs of its signaling connection."""

    def send(self, message: ServerMessage) -> None: ...

    def send_encoded(self, encoded: Encoded) -> None:
        """`send`, of a message serialized once for all the participants it goes to."""

    def reject(self, error: ProtocolError) -> None:
        """Answer an invalid channel message with an `error`, counted as abuse of the socket."""

    def close(self, code: CloseCode, reason: str) -> None:
        """End the connection (and so the participation) from the server's side."""

    @property
    def can_offer(self) -> bool: ...


@contextlib.contextmanager
def client_sdp(kind: str) -> Iterator[None]:
    """Any failure to apply the client's SDP is the client's `bad-request` (aiortc's parser fails
    with many exception types, bare asserts included)."""
    try:
        yield
    except Exception as exc:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"the {kind} could not be applied: {exc!r}", kind
        ) from None


def opus_only(pc: RTCPeerConnection) -> None:
    """Forwarding passes Opus packets through untouched, so every audio section must be Opus."""
    opus = [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType == "audio/opus"]
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "audio":
            transceiver.setCodecPreferences(opus)


def forwarded_video_codecs(pc: RTCPeerConnection) -> None:
    """Video is forwarded as the source packetized it: VP8 first (every section offers it), then
    H.264; no RTX, FEC or RED (the SFU does not unwrap them; a browser then retransmits on the
    media SSRC itself)."""
    capabilities = RTCRtpSender.getCapabilities("video").codecs
    codecs = [c for mime in FORWARDED_CODECS for c in capabilities if c.mimeType.lower() == mime]
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "video":
            transceiver.setCodecPreferences(codecs)


async def create_offer_keeping_agreed(pc: RTCPeerConnection) -> RTCSessionDescription:
    """`pc.createOffer()`, leaving the sections already negotiated as they were agreed.

    aiortc's createOffer resets every transceiver's codecs and header extensions to its own
    defaults (Opus as 96, its extension ids) until the answer comes back. If the transport comes
    up in that window, as it does when a browser connects before it answers our first re-offer,
    aiortc starts the receiver and sender with those defaults, for good: every packet the browser
    sends as agreed (111, its mid extension id) is then dropped, and the participant is neither
    forwarded nor captioned. The offer's SDP keeps the agreed values too (`Negotiated.apply`)."""
    agreed = {
        transceiver: (transceiver._codecs, transceiver._headerExtensions)
        for transceiver in pc.getTransceivers()
        if transceiver.currentDirection is not None
    }
    offer = await pc.createOffer()
    for transceiver, (codecs, extensions) in agreed.items():
        transceiver._codecs, transceiver._headerExtensions = codecs, extensions
    return offer


class ParticipantRoom(Protocol):
    """What a participant needs of the room it is in (the room composes participants; this module
    never imports it)."""

    name: str
    engine_name: str
    state: StatusState
    forwarding: ForwardingGraph  # what this participant receives, and where its sources go
    video: VideoCounters  # the room's video forwarding, for /metrics
    caption_delay: float | None  # seconds behind speech while captions are delayed

    def on_audio(self, participant_id: str, pcm: np.ndarray) -> None:
        """Decoded 24 kHz audio of `participant_id`, for the room's captions."""

    def flag(self, participant: Participant, segment: str, reason: str) -> None:
        """`participant` flagged the final caption `segment` for reviewers."""

    def choose_captions(self, participant: Participant, choice: CaptionChoice) -> None:
        """`participant` chose which captions it sees (human, automatic, both)."""

    def human_status(self, participant_id: str) -> HumanStatus | None:
        """The human-captioner part of the participant's `status`."""

    def media_changed(self, participant: Participant) -> None:
        """`participant` turned its camera or screen share on or off: tell the others."""

    def flush_presence_for(self, participant: Participant) -> None:
        """Send `participant` the joins and leaves held for it in a batch, now (before a
        message that may name one of those participants)."""


class Participant:
    def __init__(
        self,
        *,
        participant_id: str,
        name: str,
        room: ParticipantRoom,
        signaling: Signaling,
        pc: RTCPeerConnection,
        subtitles: bool,
        language: str | None,
        ice_hosts: tuple[str, ...],
        jitter_prefetch: int,
        identity: str | None = None,
        grants: frozenset[Grant] = DEFAULT_GRANTS,
        batch_presence: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.id = participant_id
        self.name = name
        self.identity = identity  # the token's `sub`; None for a guest without a token
        self.grants = grants
        self.room = room
        self.signaling = signaling
        # It takes joins and leaves as `participants` batches (join.features), not one by one.
        self.batch_presence = batch_presence
        self.pc = pc
        self.subtitles = subtitles
        self.language = language
        self.channel: RTCDataChannel | None = None
        self.packet_tap: PacketTap | None = None
        self.senders: dict[SourceKey, tuple[RTCRtpSender, ForwardedTrack]] = {}
        self._idle_senders: list[tuple[RTCRtpSender, ForwardedTrack]] = []
        self.video_taps: dict[MediaKind, VideoTap] = {}
        self._video_mids: dict[str, MediaKind] = {}  # the client's video sections
        self.media: MediaState | None = None  # as the client last said; None until it says
        # Whether the client sent `view`: it then learns from `video-sections` which source each
        # video section carries, and a section may switch sources without an offer.
        self.viewing = False
        self.closed = False
        self._ice_hosts = ice_hosts
        self._jitter_prefetch = jitter_prefetch
        self._clock = clock
        self._created = clock()
        self._last_emitted = 0.0
        self.last_final: str | None = None  # segment id of the last final caption sent
        # The recent final captions sent: the ones this participant may flag.
        self._finals_sent: dict[str, None] = {}
        self._flags = 0
        self._negotiation = asyncio.Lock()
        # What the first offer/answer agreed (payload types, formats, extension IDs): every
        # later offer of ours keeps it, as JSEP requires and browsers rely on.
        self._negotiated = Negotiated()
        self._tasks: set[asyncio.Task[None]] = set()
        self._end_of_candidates_timer: asyncio.TimerHandle | None = None
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_connection_state)

    @property
    def info(self) -> ParticipantInfo:
        return ParticipantInfo(self.id, self.name)

    # --- negotiation -----------------------------------------------------------------------------

    async def accept_offer(self, sdp: str) -> str:
        """The client's first offer; returns our answer."""
        async with self._negotiation:
            # Known before aiortc emits the tracks, in setRemoteDescription.
            self._video_mids = {
                mid: MediaKind(source) for mid, source in video_sources(sdp).items()
            }
            with client_sdp("offer"):
                await self.pc.setRemoteDescription(
                    remote_description(sdp, "offer", self._ice_hosts, end_of_candidates=False)
                )
                self._end_of_candidates_timer = asyncio.get_running_loop().call_later(
                    PEER_REFLEXIVE_WAIT, lambda: self.spawn(self._end_of_candidates())
                )
                if Grant.PUBLISH not in self.grants:
                    self._refuse_inbound_media()
                opus_only(self.pc)
                forwarded_video_codecs(self.pc)
                await self.pc.setLocalDescription(await self.pc.createAnswer())
            answer = with_opus_dtx(self.pc.localDescription.sdp)  # silence costs little
            self._negotiated = Negotiated.from_exchange(sdp, answer)
            return answer

    async def _end_of_candidates(self) -> None:
        """The offer's end-of-candidates, held back so that ICE could learn a peer-reflexive
        candidate from the peer's checks (`sfu.media.ice`): ICE may now fail."""
        if not self.closed:
            await self.pc.addIceCandidate(None)

    async def accept_answer(self, sdp: str) -> None:
        async with self._negotiation:
            self._negotiated.check_answer(sdp)
            with client_sdp("answer"):
                await self.pc.setRemoteDescription(
                    remote_description(sdp, "answer", self._ice_hosts)
                )
        self.spawn(self.renegotiate())

    def forwarding_changed(self) -> None:
        """What the room's forwarding graph wants this participant to receive changed."""
        self.spawn(self.renegotiate())

    async def renegotiate(self) -> None:
        """Bring the tracks forwarded to this participant in line with what the room's forwarding
        graph wants it to receive; offer when that changed."""
        async with self._negotiation:
            if self.closed or not self.signaling.can_offer or self.pc.signalingState != "stable":
                return  # retried after the pending answer arrives
            forwarding = self.room.forwarding
            wanted = forwarding.wanted(self.id)
            gone = [k for k in self.senders if k not in wanted]
            new = [k for k in wanted if k not in self.senders]
            swapped = self._swap_video(gone, new)
            changed = bool(gone or new)
            for key in gone:
                self._stop_forwarding(key)
            for key in new:
                forwarding.route(key, self.id, self._start_forwarding(key))
            # A swapped section is told by `video-sections` to a client that sent `view`, and by
            # an offer's msids to one that did not.
            if not changed and (self.viewing or not swapped):
                if swapped:
                    self._send_video_sections()
                return
            opus_only(self.pc)
            forwarded_video_codecs(self.pc)
            offer = await create_offer_keeping_agreed(self.pc)
            offer.sdp = self._negotiated.apply(offer.sdp)
            await self.pc.setLocalDescription(offer)
            self._negotiated.record(offer.sdp)
            # Its sections name participants (msid): the client hears of their joins first.
            self.room.flush_presence_for(self)
            self.signaling.send(ServerOffer(with_opus_dtx(self.pc.localDescription.sdp)))
            self._send_video_sections()

    def _swap_video(self, gone: list[SourceKey], new: list[SourceKey]) -> bool:
        """Move video sources that are no longer wanted off their sections onto sources that
        are, pair by pair, so that no section is added or idled (no offer needed): the track
        rebases the new source's timestamps after the old one's, and routing it asks the new
        source for a keyframe, so the picture appears within a keyframe round trip. Takes the
        swapped keys out of `gone` and `new`; True if any."""
        old_video = [k for k in gone if k.kind.video]
        new_video = [k for k in new if k.kind.video]
        pairs = list(zip(old_video, new_video, strict=False))
        forwarding = self.room.forwarding
        for old, key in pairs:
            gone.remove(old)
            new.remove(key)
            sender, track = self.senders.pop(old)
            forwarding.unroute(old, self.id)
            track.detach()
            track.attach(key.participant, pts_origin=self._media_clock(VIDEO_CLOCK))
            self._name_sender(sender, key)
            self.senders[key] = (sender, track)
            forwarding.route(key, self.id, track)
        return bool(pairs)

    def _send_video_sections(self) -> None:
        """Tell a client that sent `view` which source each video section carries now."""
        if not self.viewing:
            return
        mids = {t.sender: t.mid for t in self.pc.getTransceivers()}
        sections = tuple(
            VideoSection(mid, key.participant, str(key.kind))
            for key, (sender, _) in self.senders.items()
            if key.kind.video and (mid := mids.get(sender)) is not None
        )
        self.room.flush_presence_for(self)  # it names participants: their joins come first
        self.signaling.send(VideoSections(sections))

    def set_view(self, view: View) -> None:
        """The client says which tiles it pinned and which page of tiles it shows."""
        first = not self.viewing
        self.viewing = True
        self.room.forwarding.view(self.id, CameraView(view.pinned, view.visible))
        if first:
            self._send_video_sections()

    def _refuse_inbound_media(self) -> None:
        """Without the publish grant our answer asks for no audio or video from the client (JSEP:
        an `inactive` answer), and aiortc starts no receiver for it: nothing to forward or
        caption. Later server offers make the audio section `sendonly`, to forward the others'
        audio; the others' video comes in sections of the server's own."""
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind in ("audio", "video"):
                transceiver.direction = "inactive"

    def _media_clock(self, rate: int) -> int:
        """Now on this participant's media clock of `rate` Hz, where forwarded tracks start."""
        return round((self._clock() - self._created) * rate)

    def _start_forwarding(self, key: SourceKey) -> ForwardedTrack:
        """A sender for `key`'s media: an idle one of its kind if there is one, else a new one.

        A sender keeps its track for life (aiortc has no removeTrack, and its sender stops for
        good when its track ends); an idle one takes the new source on its track."""
        kind = "video" if key.kind.video else "audio"
        rate = VIDEO_CLOCK if key.kind.video else OPUS_CLOCK
        idle = next((s for s in self._idle_senders if s[1].kind == kind), None)
        track: ForwardedTrack
        if idle is not None:
            self._idle_senders.remove(idle)
            sender, track = idle
            track.attach(key.participant, pts_origin=self._media_clock(rate))
            self._set_sending(sender, True)
        elif key.kind.video:
            track = ForwardedVideoTrack(key.participant, pts_origin=self._media_clock(rate))
            # A section of its own, never one of the client's (those carry its own video up).
            sender = self.pc.addTransceiver(track, direction="sendonly").sender
            forward_through(sender, track)
            track.send_through(DirectSender(sender))
        else:
            track = ForwardedAudioTrack(key.participant, pts_origin=self._media_clock(rate))
            sender = self.pc.addTrack(track)
            track.send_through(DirectSender(sender))
        self._name_sender(sender, key)
        self.senders[key] = (sender, track)
        return track

    @staticmethod
    def _name_sender(sender: RTCRtpSender, key: SourceKey) -> None:
        """The msid names the source: its stream id is the participant's id, and for video its
        track id starts with `camera` or `screen` (docs/protocol-notes.md, "Video")."""
        sender._stream_id = key.participant
        if key.kind.video:
            sender._track_id = f"{key.kind}-{key.participant}"

    def _stop_forwarding(self, key: SourceKey) -> None:
        sender, track = self.senders.pop(key)
        self.room.forwarding.unroute(key, self.id)
        track.detach()
        self._set_sending(sender, False)
        self._idle_senders.append((sender, track))

    def _set_sending(self, sender: RTCRtpSender, sending: bool) -> None:
        """Start or stop sending on `sender`'s transceiver, keeping whether it receives."""
        for transceiver in self.pc.getTransceivers():
            if transceiver.sender is sender:
                receives = transceiver.direction in ("sendrecv", "recvonly")
                if sending:
                    transceiver.direction = "sendrecv" if receives else "sendonly"
                else:
                    transceiver.direction = "recvonly" if receives else "inactive"

    # --- media -----------------------------------------------------------------------------------

    def _on_track(self, track: MediaStreamTrack) -> None:
        if Grant.PUBLISH not in self.grants:
            return  # never tapped: not forwarded, not captioned, whatever the client sends
        if track.kind == "video":
            self._tap_video(track)
            return
        if track.kind != "audio" or self.packet_tap is not None:
            return
        receiver = next(t.receiver for t in self.pc.getTransceivers() if t.receiver.track is track)
        self.packet_tap = PacketTap(receiver, jitter_prefetch=self._jitter_prefetch)
        self.spawn(self._consume(track))
        self.room.forwarding.publish(SourceKey(self.id, MediaKind.AUDIO), self.packet_tap)

    def _tap_video(self, track: MediaStreamTrack) -> None:
        """The client's camera or screen section (by its place in the offer): forwarded, once
        its first frame arrives, to the others."""
        transceiver = next(t for t in self.pc.getTransceivers() if t.receiver.track is track)
        kind = self._video_mids.get(transceiver.mid or "")
        if kind is None or kind in self.video_taps:
            return
        self.video_taps[kind] = VideoTap(
            transceiver.receiver,
            counters=self.room.video,
            on_first_frame=lambda: self._publish_video(kind),
        )

    def _publish_video(self, kind: MediaKind) -> None:
        if not self.closed:
            self.room.forwarding.publish(SourceKey(self.id, kind), self.video_taps[kind])

    async def _consume(self, track: MediaStreamTrack) -> None:
        """Decode this participant's audio once, for the room tap."""
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        while not self.closed:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, av.AudioFrame):  # an audio track's receiver gives frames
                continue
            for out in resampler.resample(frame):
                self.room.on_audio(self.id, out.to_ndarray()[0])

    # --- captions channel ------------------------------------------------------------------------

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != CAPTIONS_LABEL:
            logger.info("participant %s opened an unknown channel %r", self.id, channel.label)
            return
        self.channel = channel
        channel.on("message", self._on_channel_message)
        if channel.readyState == "open":
            self.send_status()
        else:
            channel.on("open", self.send_status)

    def _on_channel_message(self, message: str | bytes) -> None:
        """`flag` and `caption-sources` (v1 extensions) are what a participant may send on the
        channel; an invalid one is answered with an `error` on the signaling socket, like any bad
        frame. Nothing may escape to aiortc: an exception in its event handler kills the
        transport."""
        try:
            parsed = parse_client_channel_message(message)
            if isinstance(parsed, CaptionSources):
                self.room.choose_captions(self, parsed.show)
            else:
                self._take_flag(parsed)
        except ProtocolError as exc:
            self.signaling.reject(exc)
        except Exception:
            logger.exception("participant %s: a channel message could not be handled", self.id)
            self.signaling.reject(
                ProtocolError(
                    ErrorCode.INTERNAL, "the server failed to handle this message", "flag"
                )
            )

    def _take_flag(self, flag: Flag) -> None:
        if Grant.FLAG not in self.grants:
            raise ProtocolError(ErrorCode.FORBIDDEN, "your token does not grant 'flag'", Flag.TYPE)
        segment = flag.segment or self.last_final
        if segment is None:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "no caption to flag yet", Flag.TYPE)
        if segment not in self._finals_sent:
            raise ProtocolError(
                ErrorCode.BAD_REQUEST,
                f"segment {segment[:64]!r} is not a final caption sent to you",
                Flag.TYPE,
            )
        if self._flags >= MAX_FLAGS:
            raise ProtocolError(
                ErrorCode.RATE_LIMITED, f"at most {MAX_FLAGS} flags per participant", Flag.TYPE
            )
        self._flags += 1
        self.room.flag(self, segment, flag.reason)

    def set_media(self, media: MediaState) -> None:
        """The client says which video it is sending. Without the publish grant nothing it
        sends is forwarded, so there is nothing to tell: ignored (a page need not know its
        token's grants to say its camera is on)."""
        if Grant.PUBLISH in self.grants and media != self.media:
            self.media = media
            self.room.media_changed(self)

    def set_subtitles(self, enabled: bool) -> None:
        if enabled and Grant.CAPTIONS not in self.grants:
            raise ProtocolError(
                ErrorCode.FORBIDDEN, "your token does not grant 'captions'", "subtitles"
            )
        self.subtitles = enabled
        self.send_status()

    def send_status(self) -> None:
        room = self.room
        status = Status(
            self.subtitles,
            room.engine_name,
            room.state,
            room.human_status(self.id),
            room.caption_delay,
        )
        self._send_channel(status)

    def send_caption(self, caption: Caption) -> bool:
        if not self.subtitles:
            return False
        self._last_emitted = max(self._last_emitted, self._clock())
        if caption.final and caption.text:
            self.last_final = caption.segment
            self._finals_sent[caption.segment] = None
            if len(self._finals_sent) > MAX_FLAGGABLE:
                del self._finals_sent[next(iter(self._finals_sent))]
        return self._send_channel(replace(caption, emitted_at=round(self._last_emitted, 6)))

    def _send_channel(self, message: Caption | Status) -> bool:
        channel = self.channel
        if channel is None or channel.readyState != "open":
            return False
        channel.send(serialize_channel_message(message))
        return True

    @property
    def channel_backlog(self) -> int:
        return self.channel.bufferedAmount if self.channel is not None else 0

    # --- life ------------------------------------------------------------------------------------

    def _on_connection_state(self) -> None:
        """A failed peer would stay listed in the room and get nothing: end the participation,
        so that the others see it leave and the client may join again."""
        if self.pc.connectionState == "failed" and not self.closed:
            logger.warning("participant %s: peer connection failed", self.id)
            self.signaling.close(CloseCode.INTERNAL_ERROR, "media connection failed")

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("participant %s: task failed", self.id, exc_info=task.exception())

    async def close(self) -> None:
        """Never raises: a peer left in a broken state by a hostile SDP (aiortc's close can fail
        then) must not keep its room open."""
        if self.closed:
            return
        self.closed = True
        if self._end_of_candidates_timer is not None:
            self._end_of_candidates_timer.cancel()
        for _, track in [*self.senders.values(), *self._idle_senders]:
            track.stop()
        for tap in self.video_taps.values():
            tap.close()
        for task in list(self._tasks):
            task.cancel()
        try:
            await self.pc.close()
        except Exception as exc:
            logger.warning("participant %s: closing its peer connection failed: %r", self.id, exc)
