import numpy as np

from captioner.speech_gate import SpeechGate, level_db

RATE = 16_000


def tone(seconds: float, amplitude: float) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_level_db() -> None:
    assert abs(level_db(tone(0.1, 1.0)) - (-3.0)) < 0.1


def test_digital_silence_is_not_speech() -> None:
    assert not any(SpeechGate(RATE).feed(np.zeros(RATE, np.float32)))


def test_tone_is_speech_with_hangover() -> None:
    gate = SpeechGate(RATE)
    flags = gate.feed(np.concatenate([tone(0.5, 0.3), np.zeros(RATE, np.float32)]))
    assert all(flags[:25])
    assert all(flags[25:35])  # 200 ms hangover
    assert not any(flags[36:])


def test_steady_noise_is_learned_as_floor() -> None:
    gate = SpeechGate(RATE)
    rng = np.random.default_rng(0)
    noise = (0.02 * rng.standard_normal(RATE * 12)).astype(np.float32)  # about -34 dBFS
    first = gate.feed(noise[:RATE])  # the floor starts below the noise and rises 1.5 dB/s
    later = gate.feed(noise[RATE:])
    loud = gate.feed(tone(0.3, 0.5) + noise[:4800])
    assert all(first)
    assert not any(later[-100:])
    assert all(loud)


def test_partial_frames_carry_over() -> None:
    gate = SpeechGate(RATE)
    assert gate.feed(tone(0.01, 0.3)) == []
    assert gate.pending == 160
    assert len(gate.feed(tone(0.01, 0.3))) == 1
