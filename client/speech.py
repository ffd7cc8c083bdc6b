"""Synthetic test speech: espeak-ng speaks a known text, sox makes it 48 kHz mono 16-bit.

Known text at known times is what accuracy (WER) and speaker-attribution tests need."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from captionlog.accuracy import normalize_text, word_error_rate

from .audio import RATE, load_audio

__all__ = [
    "SpeechToolMissing",
    "Utterance",
    "conversation",
    "normalize_text",
    "require_tools",
    "synthesize",
    "word_error_rate",
]


class SpeechToolMissing(RuntimeError):
    pass


def require_tools() -> None:
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        raise SpeechToolMissing(f"{' and '.join(missing)} not found: apt-get install espeak-ng sox")


def synthesize(text: str, *, voice: str = "en-us", words_per_minute: int = 150) -> np.ndarray:
    """`text` spoken by espeak-ng, as 48 kHz mono float32."""
    require_tools()
    with tempfile.TemporaryDirectory() as tmp:
        raw, wav = Path(tmp) / "raw.wav", Path(tmp) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(raw), text],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(wav)],
            check=True,
            capture_output=True,
        )
        return load_audio(wav)


@dataclass(frozen=True)
class Utterance:
    speaker: str
    text: str
    start: float  # seconds from the conversation's start
    end: float


def conversation(
    turns: list[tuple[str, str]], voices: dict[str, str], *, gap: float = 1.2
) -> tuple[dict[str, np.ndarray], list[Utterance]]:
    """Speakers taking turns: one track per speaker (silent while the others speak), all the
    same length, and the timetable of who said what when."""
    clips: list[tuple[str, str, np.ndarray]] = [
        (speaker, text, synthesize(text, voice=voices[speaker])) for speaker, text in turns
    ]
    total = sum(len(c) for _, _, c in clips) + round(gap * RATE) * (len(clips) + 1)
    tracks = {speaker: np.zeros(total, dtype=np.float32) for speaker in voices}
    timetable, position = [], round(gap * RATE)
    for speaker, text, clip in clips:
        tracks[speaker][position : position + len(clip)] = clip
        timetable.append(Utterance(speaker, text, position / RATE, (position + len(clip)) / RATE))
        position += len(clip) + round(gap * RATE)
    return tracks, timetable
