import numpy as np

from captioner.engine import SAMPLE_RATE
from sfu.media.tap import FRAME_SAMPLES, RoomMixer, TrackTimeline, VoiceActivity


def test_timeline_lays_frames_end_to_end_despite_jitter() -> None:
    timeline = TrackTimeline(max_drift=0.12)
    starts = [timeline.place(arrival, 0.02) for arrival in (1.02, 1.05, 1.06, 1.09)]
    assert np.allclose(starts, [1.0, 1.02, 1.04, 1.06])


def test_timeline_reanchors_after_a_gap() -> None:
    timeline = TrackTimeline(max_drift=0.12)
    timeline.place(1.02, 0.02)
    assert timeline.place(3.02, 0.02) == 3.0


def test_mixer_sums_tracks_and_emits_contiguous_frames() -> None:
    mixer = RoomMixer(hold=0.1)
    ones = np.full(FRAME_SAMPLES * 2, 0.25, np.float32)
    mixer.add(0.0, ones)
    mixer.add(0.08, ones[:FRAME_SAMPLES])
    assert mixer.flush(0.15) is None  # frame 0 ends at 0.08; with hold 0.1, ready at 0.18
    start, pcm = mixer.flush(0.27)
    assert start == 0.0 and len(pcm) == 2 * FRAME_SAMPLES
    assert np.allclose(pcm[:FRAME_SAMPLES], 0.25) and np.allclose(pcm[FRAME_SAMPLES:], 0.5)
    start, pcm = mixer.flush(0.45)
    assert start == 0.16 and np.allclose(pcm, 0.0) and len(pcm) == 2 * FRAME_SAMPLES


def test_mixer_counts_late_audio() -> None:
    mixer = RoomMixer(hold=0.1)
    mixer.flush(0.5)  # frames up to 0.4 have left
    mixer.add(0.3, np.ones(round(0.2 * SAMPLE_RATE), np.float32))
    assert abs(mixer.late_seconds - 0.1) < 1e-6
    start, pcm = mixer.flush(0.7)
    assert abs(start - 0.4) < 1e-9 and np.count_nonzero(pcm) == round(0.1 * SAMPLE_RATE)


def test_mixer_clips() -> None:
    mixer = RoomMixer(hold=0.0)
    loud = np.full(FRAME_SAMPLES, 0.8, np.float32)
    mixer.add(0.0, loud)
    mixer.add(0.0, loud)
    assert mixer.flush(0.08)[1].max() == 1.0


def tone(seconds: float, amplitude: float) -> np.ndarray:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * 200 * t)).astype(np.float32)


def test_dominant_speaker_by_energy_in_window() -> None:
    activity = VoiceActivity()
    silence = np.zeros(round(1.0 * SAMPLE_RATE), np.float32)
    activity.add("ada", 0.0, np.concatenate([tone(1.0, 0.3), silence]))
    activity.add("bob", 0.0, np.concatenate([silence, tone(1.0, 0.3)]))
    assert activity.dominant(0.1, 0.6) == "ada"
    assert activity.dominant(1.4, 1.9) == "bob"
    assert activity.dominant(5.0, 6.0) is None
    activity.remove("ada")
    assert activity.dominant(0.1, 0.6) == "ada"  # what was said before leaving is still theirs
