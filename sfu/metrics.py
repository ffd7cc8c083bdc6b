"""Prometheus metrics: one registry per server (no process-global state)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from sfu.media.counters import DelayHistogram, ForwardingCounters

if TYPE_CHECKING:
    from captioner.scheduler import SchedulerStats
    from captionlog.log import CaptionLog
    from sfu.rooms.room import Room

LATENCY_BUCKETS = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)


class _LiveCollector(Collector):
    """Reads rooms and the scheduler when scraped, so no gauge can go stale."""

    def __init__(
        self,
        rooms: Callable[[], list[Room]],
        scheduler: Callable[[], SchedulerStats],
        room_labels: bool,
    ) -> None:
        self._rooms = rooms
        self._scheduler = scheduler
        # Room names can say what a meeting is about and /metrics has no credential: per-room
        # series only when the operator asks (--metrics-room-labels); totals otherwise.
        self._room_labels = room_labels

    def _labels(self, room: Room) -> list[str]:
        return [room.name] if self._room_labels else ["*"]

    @staticmethod
    def _room_values(room: Room) -> tuple[float, ...]:
        return (
            len(room.participants),
            room.waiting_streams,
            sum(p.channel_backlog for p in room.participants.values()),
            room.late_audio_seconds,
            room.forwarded_packets_dropped,
            room.caption_delay or 0.0,
            1.0 if room.caption_delay is not None else 0.0,
            room.video.forwarded,
            room.video.keyframe_requests,
            room.forwarding.dropped_frames,
        )

    @staticmethod
    def _forwarding_metrics(rooms: list[Room]) -> Iterator[Metric]:
        """Forwarding work over the open rooms (a closed room's counts leave with it)."""
        total = ForwardingCounters()
        for room in rooms:
            total.add(room.forwarding.counters)
        yield CounterMetricFamily(
            "livecaptions_source_packets",
            "Audio packets received from participants, in the open rooms.",
            value=total.received,
        )
        yield CounterMetricFamily(
            "livecaptions_forwarded_packets",
            "Audio packets handed to subscribers' senders, in the open rooms.",
            value=total.forwarded,
        )
        yield CounterMetricFamily(
            "livecaptions_gated_packets",
            "Audio packets of silent participants forwarded to nobody, in the open rooms.",
            value=total.gated,
        )
        yield GaugeMetricFamily(
            "livecaptions_forwarded_streams",
            "(source, subscriber) pairs being forwarded: the work each packet costs.",
            value=sum(room.forwarding.routes for room in rooms),
        )
        yield HistogramMetricFamily(
            "livecaptions_forwarding_delay_seconds",
            "From a packet's arrival at its source's tap to its sending to a subscriber, in the "
            "open rooms.",
            buckets=total.delay.cumulative(),
            sum_value=total.delay.total,
        )
        video = DelayHistogram()
        for room in rooms:
            video.add_from(room.video.delay)
        yield HistogramMetricFamily(
            "livecaptions_video_forwarding_delay_seconds",
            "From a video frame's first packet at its source's tap to the subscriber's sender "
            "taking the frame, once per packet of the frame, in the open rooms.",
            buckets=video.cumulative(),
            sum_value=video.total,
        )

    def collect(self) -> Iterator[Metric]:
        rooms = self._rooms()
        yield GaugeMetricFamily("livecaptions_rooms", "Rooms open.", value=len(rooms))
        participants = GaugeMetricFamily(
            "livecaptions_room_participants", "Participants per room.", labels=["room"]
        )
        backlog = GaugeMetricFamily(
            "livecaptions_datachannel_backlog_bytes",
            "Bytes queued on caption data channels, per room.",
            labels=["room"],
        )
        forwarded_dropped = CounterMetricFamily(
            "livecaptions_forwarded_packets_dropped",
            "Forwarded Opus packets dropped because a subscriber could not take them (its "
            "transport full or closed, or over 1 s held before its sender started), per room.",
            labels=["room"],
        )
        late = CounterMetricFamily(
            "livecaptions_late_audio_seconds",
            "Audio that reached the room tap after its frame left for the captioner.",
            labels=["room"],
        )
        waiting = GaugeMetricFamily(
            "livecaptions_room_streams_waiting",
            "Streams of a room refused an engine slot (all taken), per room.",
            labels=["room"],
        )
        delay = GaugeMetricFamily(
            "livecaptions_room_caption_delay_seconds",
            "How far behind speech a room's captions are while the engine is past its capacity "
            "(median latency of its recent captions; 0 when not delayed), summed over rooms "
            "without --metrics-room-labels.",
            labels=["room"],
        )
        delayed = GaugeMetricFamily(
            "livecaptions_rooms_captions_delayed",
            "Rooms whose participants are told their captions are delayed.",
            labels=["room"],
        )
        video_forwarded = CounterMetricFamily(
            "livecaptions_forwarded_video_packets",
            "Video RTP packets forwarded untouched to subscribers (one per subscriber), per room.",
            labels=["room"],
        )
        keyframes = CounterMetricFamily(
            "livecaptions_keyframe_requests_relayed",
            "Keyframe requests (PLI) sent to video sources for subscribers that joined, lost "
            "packets or fell behind (at most one per source per 0.3 s), per room.",
            labels=["room"],
        )
        frames_dropped = CounterMetricFamily(
            "livecaptions_video_frames_dropped",
            "Video frames dropped for subscribers who could not take them (transport full or "
            "closed, or a full queue before their sender started; they wait for a keyframe), "
            "per room.",
            labels=["room"],
        )
        families: tuple[GaugeMetricFamily | CounterMetricFamily, ...] = (
            participants,
            waiting,
            backlog,
            late,
            forwarded_dropped,
            delay,
            delayed,
            video_forwarded,
            keyframes,
            frames_dropped,
        )
        totals: dict[str, list[float]] = {}
        for room in rooms:
            (label,) = self._labels(room)
            sums = totals.setdefault(label, [0.0] * len(families))
            for i, value in enumerate(self._room_values(room)):
                sums[i] += value
        for label, sums in totals.items():
            for family, value in zip(families, sums, strict=True):
                family.add_metric([label], value)
        yield participants
        yield backlog
        yield late
        yield forwarded_dropped
        yield waiting
        yield delay
        yield delayed
        yield video_forwarded
        yield keyframes
        yield frames_dropped
        yield GaugeMetricFamily(
            "livecaptions_participants",
            "Participants connected.",
            value=sum(len(r.participants) for r in rooms),
        )
        yield from self._forwarding_metrics(rooms)
        yield from self._scheduler_metrics(self._scheduler())

    def _scheduler_metrics(self, stats: SchedulerStats) -> Iterator[Metric]:
        steps = np.array(stats.step_seconds or [0.0])
        step = GaugeMetricFamily(
            "livecaptions_engine_step_seconds",
            "Engine step time over the recent steps.",
            labels=["quantile"],
        )
        for q in (0.5, 0.9, 0.99):
            step.add_metric([str(q)], float(np.quantile(steps, q)))
        yield step
        yield CounterMetricFamily(
            "livecaptions_engine_steps", "Engine steps run.", value=stats.steps
        )
        yield CounterMetricFamily(
            "livecaptions_engine_failures", "Engine steps that failed.", value=stats.failures
        )
        yield GaugeMetricFamily(
            "livecaptions_engine_wait_seconds",
            "How long the oldest audio of the last step waited for it.",
            value=stats.wait_seconds,
        )
        queue = GaugeMetricFamily(
            "livecaptions_engine_queue_seconds",
            "Audio waiting for the engine, per stream.",
            labels=["stream"],
        )
        dropped = CounterMetricFamily(
            "livecaptions_engine_dropped_audio_seconds",
            "Audio dropped because the engine fell too far behind, per stream.",
            labels=["stream"],
        )
        lag = GaugeMetricFamily(
            "livecaptions_engine_lag_seconds",
            "How long the oldest audio waiting for the engine has waited, per stream.",
            labels=["stream"],
        )
        # Stream ids start with their room's name: one total series unless rooms may be named.
        totals: dict[str, list[float]] = {}
        for stream_id, seconds in stats.backlog_seconds.items():
            label = stream_id if self._room_labels else "*"
            total = totals.setdefault(label, [0.0, 0.0, 0.0])
            total[0] += seconds
            total[1] += stats.dropped_seconds.get(stream_id, 0.0)
            total[2] = max(total[2], stats.lag_seconds.get(stream_id, 0.0))
        for label, (seconds, dropped_seconds, lag_seconds) in totals.items():
            queue.add_metric([label], seconds)
            dropped.add_metric([label], dropped_seconds)
            lag.add_metric([label], lag_seconds)
        yield queue
        yield dropped
        yield lag
        yield CounterMetricFamily(
            "livecaptions_engine_late_audio_dropped_seconds",
            "Audio the engine dropped undecoded because it waited too long for a decode (past "
            "capacity, so that captions stay a bounded time behind speech).",
            value=stats.late_dropped_seconds,
        )
        yield GaugeMetricFamily(
            "livecaptions_engine_realtime_factor",
            "Engine step time over the audio time it processed, recent steps (above 1: the "
            "engine falls behind real time).",
            value=stats.realtime_factor,
        )
        streams = GaugeMetricFamily(
            "livecaptions_engine_streams",
            "Streams served by the engine, and its capacity (batch slots; absent: no limit).",
            labels=["kind"],
        )
        streams.add_metric(["open"], len(stats.backlog_seconds))
        if stats.capacity is not None:
            streams.add_metric(["capacity"], stats.capacity)
        yield streams


class _LogCollector(Collector):
    def __init__(self, log: CaptionLog) -> None:
        self._log = log

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "livecaptions_log_records_acknowledged",
            "Caption-log records committed (durable).",
            value=self._log.acknowledged,
        )
        yield GaugeMetricFamily(
            "livecaptions_log_records_pending",
            "Caption-log records waiting for the writer.",
            value=self._log.pending,
        )
        yield CounterMetricFamily(
            "livecaptions_log_write_failures",
            "Caption-log transactions that failed (their records were retried one by one).",
            value=self._log.failures,
        )
        yield CounterMetricFamily(
            "livecaptions_log_records_rejected",
            "Caption-log records that could not be written, even alone (lost, and logged).",
            value=self._log.rejected,
        )


class ServerMetrics:
    def __init__(
        self,
        rooms: Callable[[], list[Room]],
        scheduler: Callable[[], SchedulerStats],
        *,
        room_labels: bool = False,
    ) -> None:
        self.registry = CollectorRegistry()
        self.caption_latency = Histogram(
            "livecaptions_caption_latency_seconds",
            "Time from the end of the transcribed audio reaching the server to the caption "
            "being sent (PROTOCOL.md's caption latency, server side).",
            ["final"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.captions_sent = Counter(
            "livecaptions_captions_sent",
            "Caption updates sent on data channels.",
            registry=self.registry,
        )
        self.signaling_errors = Counter(
            "livecaptions_signaling_errors",
            "Error frames sent, by code.",
            ["code"],
            registry=self.registry,
        )
        self.flags = Counter(
            "livecaptions_captions_flagged",
            "Captions participants flagged as wrong.",
            registry=self.registry,
        )
        self.registry.register(_LiveCollector(rooms, scheduler, room_labels))

    def watch_log(self, log: CaptionLog) -> None:
        self.registry.register(_LogCollector(log))

    def render(self) -> bytes:
        return generate_latest(self.registry)
