"""The streaming policy of the embedded Whisper engine, for one stream, with no model inside.

Whisper is not a streaming model: it transcribes a window of audio. This policy turns it into one.
Audio accumulates in a buffer; each step decodes the buffer (`plan` says what to decode, `apply`
takes the result), local agreement commits the words two successive decodes agree on, and a pause
commits everything. The buffer is trimmed at committed sentence ends so each decode stays short,
and the committed text before the buffer is given to the model as its prompt. Committed words
still in the buffer are revised when two later decodes agree they were misheard. Silence is gated by
energy: a buffer with no speech is never decoded, and words the model places in silence are
dropped, so silence never becomes invented text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from captioner.engine import Revision
from captioner.speech_gate import GateConfig, SpeechGate
from captioner.whisper.agreement import (
    LocalAgreement,
    compression_ratio,
    cut_repetition,
    ends_sentence,
)
from captioner.word_times import in_time_order
from protocol import Word

SAMPLE_RATE = 16_000  # Whisper's rate
COMPRESSION_RATIO_THRESHOLD = 2.4


@dataclass(frozen=True, kw_only=True)
class StreamPolicy:
    agreement: int = 2  # successive hypotheses that must agree on a word to commit it
    # A word the model is unsure of (below min_probability) is not committed by agreement while
    # it lies within `patience` seconds of the buffer's end: more context, or a pause, settles it.
    # Measured on the shared recordings: 0.45 and 1.0 s cut streaming WER (JFK 13.6 → 9.1 %) for
    # ~0.1 s more commit lag (docs/engine.md).
    min_probability: float = 0.45
    patience: float = 1.0
    # Not None: agreed words are committed a sentence at a time, from the hypothesis that first
    # hears its end, and a word no agreed sentence end follows yet commits on agreement alone
    # once it is this old (seconds before the buffer's end). None: every agreed word commits at
    # once (the paper's policy), the default. Measured (docs/engine.md): 3.0 closes tiny.en's
    # streaming gap on the engine alone with simulated chunks (JFK 13.6 → 0 %: it kept "asked
    # not" for 2.6 s before the rest of the sentence corrected it), but through the real server
    # it raised final-caption latency p95 (JFK 1.5 → 3.4 s) and lost a sentence of two_cities:
    # decodes come less often in real time, and agreeing on a whole sentence takes longer.
    settle_after: float | None = None
    min_new_audio: float = 0.3  # seconds of new audio before another decode of the same buffer
    min_audio: float = 1.0  # Whisper invents text on very short windows: wait for this much
    pause_seconds: float = 0.55  # trailing silence that ends an utterance
    trim_after: float = 10.0  # buffer length past which it is cut at a committed sentence end
    cut_margin: float = 0.2  # seconds kept after a sentence's last word when cutting there
    # Audio kept before the first word not yet committed when cutting at a sentence end: a window
    # that starts where a sentence starts leaves tiny.en no context for its first words (it
    # heard "for good orth evil" after a cut that the whole buffer decoded as "for good or for
    # evil").
    cut_context: float = 2.0
    hard_trim_after: float = 14.0  # past this, cut at the last committed word (bounds the window)
    max_buffer: float = 16.0  # past this, commit everything: an overloaded engine decodes long
    # windows slowly, and slower steps grow the buffers further; this bounds the loop
    preroll: float = 0.3  # audio kept before speech starts
    end_of_turn: float = 1.5  # silence after which the buffer's audio no longer helps as context
    # At a pause everything heard is final: cut the buffer after its last word, so that the next
    # utterance's decodes do not encode and re-read the last one (the committed text stays as
    # the prompt). False: keep it until `end_of_turn` or `trim_after`.
    cut_at_pause: bool = True
    tail: float = 0.3  # silence kept after the last speech in a decoded window (Whisper invents
    # words over longer trailing silence)
    prompt_chars: int = 200
    # Past capacity a stream's decodes come further apart (the engine's step budget): audio that
    # has waited this long for its first decode is dropped, and counted, so that captions stay
    # at most this far behind speech however many rooms speak.
    max_delay: float = 10.0
    gate: GateConfig = field(default_factory=GateConfig)


@dataclass(frozen=True)
class DecodeRequest:
    audio: np.ndarray  # 16 kHz float32
    start: float  # room time of audio[0]
    prompt: str
    final: bool  # commit every word of the result
    heard_until: float = 0.0  # room time: the end of the buffer when it was planned


@dataclass(frozen=True)
class DecodedWord:
    """A word as the model returned it: times relative to the decoded audio's start."""

    text: str
    start: float
    end: float
    probability: float = 1.0


@dataclass(frozen=True)
class PolicyUpdate:
    committed: tuple[Word, ...]
    tentative: tuple[Word, ...]
    end_of_utterance: bool
    revision: Revision | None = None  # applies before `committed`


class WhisperStream:
    def __init__(self, start: float, policy: StreamPolicy | None = None) -> None:
        self.policy = policy or StreamPolicy()
        self._gate = SpeechGate(SAMPLE_RATE, self.policy.gate)
        self._frame = self._gate.frame_size
        self._audio = np.zeros(0, dtype=np.float32)
        self._speech: list[bool] = []  # one flag per gate frame of the buffer
        self._start = start  # room time of the buffer's first sample
        self._agreement = LocalAgreement(self.policy.agreement)
        self._context = ""  # committed text of this turn cut out of the buffer: the model's prompt
        self._decoded_until = start
        self._utterance_open = False  # speech heard since everything was last committed
        self._last_speech_end = start
        self._ended = False
        self._dropped = 0.0  # seconds dropped undecoded, not yet counted by the engine

    @property
    def end(self) -> float:
        return self._start + len(self._audio) / SAMPLE_RATE

    def append(self, pcm16k: np.ndarray, *, end_of_stream: bool = False) -> None:
        flags = self._gate.feed(pcm16k)
        offset = len(self._audio) // self._frame
        self._audio = np.concatenate([self._audio, pcm16k.astype(np.float32, copy=False)])
        self._speech.extend(flags)
        for i, speech in enumerate(flags):
            if speech:
                self._utterance_open = True
                self._last_speech_end = self._start + (offset + i + 1) * self._frame / SAMPLE_RATE
        self._ended = self._ended or end_of_stream

    # --- one step: plan, (the engine decodes), apply ---------------------------------------------

    def plan(self) -> DecodeRequest | None:
        self._drop_late()
        if not self._utterance_open:
            if self.end - self._last_speech_end >= self.policy.end_of_turn:
                self._drop_silence()
            return None
        pause = self.end - self._last_speech_end >= self.policy.pause_seconds
        final = pause or self._ended or self.end - self._start >= self.policy.max_buffer
        if not final and (
            self.end - self._decoded_until < self.policy.min_new_audio
            or self.end - self._start < self.policy.min_audio
            # Nothing but silence since the last decode: it would read the same words again.
            or self._last_speech_end <= self._decoded_until
        ):
            return None
        until = min(self.end, self._last_speech_end + self.policy.tail)
        audio = self._audio[: max(0, round((until - self._start) * SAMPLE_RATE))]
        prompt = self._context[-self.policy.prompt_chars :]
        return DecodeRequest(audio, self._start, prompt, final, heard_until=self.end)

    def take_dropped(self) -> float:
        """Seconds of audio dropped undecoded (too late) since the last call."""
        dropped, self._dropped = self._dropped, 0.0
        return dropped

    def _drop_late(self) -> None:
        oldest = max(self._start, self._decoded_until)
        cut = self.end - self.policy.max_delay
        if self._ended or cut <= oldest:
            return
        self._cut(cut)
        self._dropped += max(0.0, self._start - oldest)
        self._decoded_until = max(self._decoded_until, self._start)

    @property
    def ended(self) -> bool:
        """Its last audio has come."""
        return self._ended

    def postpone(self, request: DecodeRequest) -> None:
        """The engine did not decode `request` (its language is not settled): its audio stays
        in the buffer for a later decode, which waits for new audio as after any decode."""
        self._decoded_until = max(self._decoded_until, request.heard_until)

    def apply(self, request: DecodeRequest, decoded: Sequence[DecodedWord]) -> PolicyUpdate:
        self._decoded_until = max(self._decoded_until, request.heard_until)
        heard = cut_repetition(self._to_room_time(request, decoded))
        if compression_ratio(" ".join(w.text for w in heard)) > COMPRESSION_RATIO_THRESHOLD:
            heard = []  # a loop that cut_repetition could not isolate
        words = [w for w in heard if self._overlaps_speech(w)]
        if request.final:
            committed = self._agreement.commit_all(words)
            tentative: list[Word] = []
            self._utterance_open = False
        else:
            limit = next((i for i, w in enumerate(words) if self._unsure(w)), None)
            committed, tentative = self._agreement.insert(
                words, limit=limit, settled=self._settled(words)
            )
        revision = self._agreement.revision
        self._trim(committed, final=request.final)
        return PolicyUpdate(tuple(committed), tuple(tentative), request.final, revision)

    # --- helpers ---------------------------------------------------------------------------------

    def _to_room_time(self, request: DecodeRequest, decoded: Sequence[DecodedWord]) -> list[Word]:
        length = len(request.audio) / SAMPLE_RATE
        heard = [w for w in decoded if w.text.strip()]
        words = in_time_order(
            [
                Word(
                    w.text.strip(),
                    round(request.start + min(max(w.start, 0.0), length), 3),
                    round(request.start + min(max(w.end, w.start, 0.0), length), 3),
                    round(min(max(w.probability, 0.0), 1.0), 3),  # the model's probability
                )
                for w in heard
            ]
        )
        if words:
            words = (self._at_onset(words[0]), *words[1:])
        return list(words)

    def _at_onset(self, word: Word) -> Word:
        """The decode's first word, moved to the start of its speech. Alignment stretches a
        window's first word back over the silence before it: at a turn change, into the previous
        speaker's last syllables, where it was attributed to them (issue 20, item 6). A word
        whose span holds a speech onset (speech after at least the gate's hangover of silence)
        starts there."""
        first = max(1, int((word.start - self._start) * SAMPLE_RATE) // self._frame + 1)
        last = min(len(self._speech), int((word.end - self._start) * SAMPLE_RATE) // self._frame)
        onset = next(
            (i for i in range(first, last) if self._speech[i] and not self._speech[i - 1]), None
        )
        if onset is None:
            return word
        start = round(self._start + onset * self._frame / SAMPLE_RATE, 3)
        return replace(word, start=min(start, word.end))

    def _settled(self, words: Sequence[Word]) -> int | None:
        """How many leading words are old enough to commit on agreement alone."""
        if self.policy.settle_after is None:
            return None
        old = self.end - self.policy.settle_after
        return next((i for i, w in enumerate(words) if w.end > old), len(words))

    def _unsure(self, word: Word) -> bool:
        recent = self.end - word.end < self.policy.patience
        confidence = 1.0 if word.confidence is None else word.confidence
        return recent and confidence < self.policy.min_probability

    def _overlaps_speech(self, word: Word) -> bool:
        slack = self.policy.gate.hangover_seconds
        first = max(0, int((word.start - slack - self._start) * SAMPLE_RATE) // self._frame)
        last = int((word.end + slack - self._start) * SAMPLE_RATE) // self._frame + 1
        return any(self._speech[first:last])

    def _trim(self, committed: Sequence[Word], *, final: bool) -> None:
        if final and self.end - self._last_speech_end >= self.policy.end_of_turn:
            self._drop_silence()
            return
        done = self._agreement.committed
        if final and self.policy.cut_at_pause and done:
            self._cut(min(self.end, done[-1].end + self.policy.cut_margin))
            return
        length = self.end - self._start
        if length < self.policy.trim_after or not done:
            return
        # Cut a little after the sentence's last word (alignment often ends a word early, and a
        # fragment left at the buffer's start sends the model astray), never into the next word.
        heard = [*done, *self._agreement.tentative]
        pending = self._agreement.tentative[0].start if self._agreement.tentative else self.end
        cuts = [
            cut
            for i, word in enumerate(done)
            if ends_sentence(word)
            and (
                cut := min(
                    word.end + self.policy.cut_margin,
                    heard[i + 1].start if i + 1 < len(heard) else self.end,
                )
            )
            <= pending - self.policy.cut_context
        ]
        if cuts:
            self._cut(cuts[-1])
        elif length >= self.policy.hard_trim_after:
            self._cut(done[-1].end)

    def _cut(self, time: float) -> None:
        frames = max(0, int((time - self._start) * SAMPLE_RATE) // self._frame)
        frames = min(frames, len(self._speech))
        self._audio = self._audio[frames * self._frame :]
        self._speech = self._speech[frames:]
        self._start += frames * self._frame / SAMPLE_RATE
        # Forget the words that end by `time`, not by the frame-rounded start: a word with only
        # a few milliseconds left in the buffer is no longer heard, and decodes that agree it is
        # gone must not revise it away.
        self._remember(self._agreement.forget(max(self._start, time)))
        # What is left may be only the hangover after the last committed word: not speech.
        min_frames = (self.policy.gate.hangover_seconds + 0.1) * SAMPLE_RATE / self._frame
        self._utterance_open = self._utterance_open and sum(self._speech) >= min_frames

    def _remember(self, words: Sequence[Word]) -> None:
        """Committed words cut out of the buffer become the prompt of the next decodes."""
        text = " ".join(w.text for w in words)
        self._context = f"{self._context} {text}".strip()[-4 * self.policy.prompt_chars :]

    def _drop_silence(self) -> None:
        """A turn ended: keep only a little pre-roll for the next word's onset, and forget the
        prompt: given the last turn's text, Whisper tends to write it again ahead of the audio."""
        if self.end - self._start > 2 * self.policy.preroll:
            self._cut(self.end - self.policy.preroll)
            self._agreement.forget()
        self._context = ""
