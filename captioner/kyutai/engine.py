"""The Kyutai engine: delayed-streams STT (Mimi + LM through `moshi`), batched over fixed slots.

`KyutaiBatch` is the model: B slots in streaming mode; one `step` encodes one 80 ms frame per
active slot with Mimi and runs one LM step for all of them. A slot is reset when a stream starts
in it, and the execution mask says which slots advance, so streams join and leave at any step and
a slot's state never depends on its neighbours.

`KyutaiEngine` puts streams in slots: it cuts their audio into frames, primes each new stream with
a silence frame (moshi's LM replaces a stream's very first frame with its initial tokens, so real
audio in that frame would never be heard), turns text tokens into words (`words.py`), and
flushes at pauses: when a speaker stops, it feeds the delay's worth of silence at once so the last
words arrive without waiting for more audio.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from captioner.engine import FRAME_SECONDS, SAMPLE_RATE, AudioChunk, EngineStats, StreamUpdate
from captioner.errors import CapacityError, StreamError
from captioner.kyutai.config import KyutaiConfig
from captioner.kyutai.words import WordAssembler
from captioner.speech_gate import SpeechGate
from protocol import Word

if TYPE_CHECKING:
    from moshi.models.compression import MimiModel
    from moshi.models.lm import LMModel

logger = logging.getLogger(__name__)

FRAME_SAMPLES = round(FRAME_SECONDS * SAMPLE_RATE)  # 1920, one Mimi frame


class KyutaiBatch:
    """Mimi and the LM in streaming mode over `slots` batch slots."""

    def __init__(
        self,
        mimi: MimiModel,
        lm: LMModel,
        slots: int,
        *,
        device: str = "cpu",
        compile: bool | None = None,
    ) -> None:
        import torch
        from moshi.models.lm import LMGen
        from moshi.utils.compile import no_compile

        self._torch = torch
        self.slots = slots
        self.device = torch.device(device)
        self.mimi = mimi
        self.lm_gen = LMGen(
            lm,
            use_sampling=False,
            temp=0.0,
            temp_text=0.0,
            support_out_of_sync=True,  # slots start at different steps
        )
        self.vad_heads = len(lm.extra_heads)
        self._streaming = contextlib.ExitStack()
        self._streaming.enter_context(self.mimi.streaming(slots))
        self._streaming.enter_context(self.lm_gen.streaming(slots))
        # On cuda, moshi captures Mimi's encoder and the LM step in CUDA graphs by itself (its
        # NO_CUDA_GRAPH=1 environment variable turns them off): the inputs' shapes are fixed here.
        self._pcm = torch.zeros((slots, 1, FRAME_SAMPLES), device=self.device)
        # On a CPU, compiling costs seconds at the first step for no measurable gain.
        compiled = self.device.type == "cuda" if compile is None else compile
        self._compile_context = contextlib.nullcontext if compiled else no_compile

    def close(self) -> None:
        """Leave streaming mode (its caches are freed); the models can serve another batch."""
        self._streaming.close()

    def step(
        self, pcm: np.ndarray, active: np.ndarray, reset: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """One frame per slot (`pcm`: slots x 1920 float32). Slots where `active` is false keep
        their state. Returns each slot's text token and, where the model has semantic VAD heads,
        every head's first probability (slots x heads)."""
        torch = self._torch
        with torch.no_grad(), self._compile_context():
            if reset is not None and reset.any():
                mask = torch.from_numpy(reset).to(self.device)
                self.mimi.reset_streaming(mask)
                self.lm_gen.reset_streaming(mask)
            mask = torch.from_numpy(active).to(self.device)
            self.mimi.set_exec_mask(mask)
            self.lm_gen.set_exec_mask(mask)
            self._pcm.copy_(torch.from_numpy(pcm)[:, None, :])
            codes = self.mimi.encode(self._pcm)
            if self.vad_heads:
                result = self.lm_gen.step_with_extra_heads(codes)
                assert result is not None
                out, heads = result
                probabilities = torch.stack([h[:, 0, 0] for h in heads], dim=1).float().cpu()
                return out[:, 0, 0].cpu().numpy(), probabilities.numpy()
            text = self.lm_gen.step(codes)
            assert text is not None
            return text[:, 0, 0].cpu().numpy(), None


@dataclass
class _Slot:
    index: int
    stream_id: str
    words: WordAssembler
    gate: SpeechGate
    delay_steps: int
    pcm: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    time: float | None = None  # room time of pcm[0]
    frame_times: deque[float] = field(default_factory=deque)  # the last fed frames' times
    last_word_time: float = float("-inf")
    started: bool = False  # reset and primed
    flush_frames: int = 0  # silence frames still to feed at once
    silent_seconds: float = 0.0
    heard: bool = False  # words since the last flush
    ending: bool = False
    # What the current `step` produced.
    committed: list[Word] = field(default_factory=list)
    end_of_utterance: bool = False
    touched: bool = False

    def append(self, chunk: AudioChunk) -> None:
        if self.time is None or not len(self.pcm):
            self.time = chunk.start - len(self.pcm) / SAMPLE_RATE
        self.pcm = np.concatenate([self.pcm, chunk.pcm.astype(np.float32, copy=False)])
        if chunk.end_of_stream and not self.ending:
            self.ending = True
            if len(self.pcm) % FRAME_SAMPLES:  # the last, partial frame, padded with silence
                pad = FRAME_SAMPLES - len(self.pcm) % FRAME_SAMPLES
                self.pcm = np.concatenate([self.pcm, np.zeros(pad, np.float32)])
            self.flush_frames = self.delay_steps + 1
        self.touched = True

    @property
    def has_frame(self) -> bool:
        return len(self.pcm) >= FRAME_SAMPLES or self.flush_frames > 0 or not self.started

    def next_frame(self) -> tuple[np.ndarray, float, bool]:
        """The next frame to feed: (pcm, room time, real audio?). Priming and flush come first."""
        start = self.time if self.time is not None else 0.0
        inserted = not self.started or (
            self.flush_frames > 0 and (not self.ending or len(self.pcm) < FRAME_SAMPLES)
        )
        if inserted:
            # Inserted silence (priming, flush) takes no room time: it is stamped where the real
            # audio resumes, so that times never run ahead of the audio that follows.
            return np.zeros(FRAME_SAMPLES, np.float32), start, False
        frame, self.pcm = self.pcm[:FRAME_SAMPLES], self.pcm[FRAME_SAMPLES:]
        self.time = start + FRAME_SECONDS
        return frame, start, True

    def word_time(self) -> float:
        """Time of the frame the current step's text describes (`delay_steps` frames back),
        never earlier than the last one: word times are monotonic."""
        if len(self.frame_times) > self.delay_steps:
            time = self.frame_times[-1 - self.delay_steps]
        else:
            time = self.frame_times[0]
        self.last_word_time = max(time, self.last_word_time)
        return self.last_word_time


class KyutaiEngine:
    """Kyutai STT behind the engine interface; see the module docstring."""

    def __init__(
        self,
        config: KyutaiConfig,
        *,
        batch: KyutaiBatch | None = None,
        piece: Callable[[int], str] | None = None,
        delay_steps: int | None = None,
        name: str = "kyutai",
    ) -> None:
        self.config = config
        if batch is None:
            batch, piece, delay_steps, name = self._load(config)
        assert piece is not None and delay_steps is not None
        self.name = name
        self.languages = config.languages
        self.capacity = batch.slots
        self.delay_steps = delay_steps
        self._batch = batch
        self._piece = piece
        self._slots: dict[str, _Slot] = {}
        self._free = list(range(batch.slots))
        self.stats = EngineStats()

    @staticmethod
    def _load(config: KyutaiConfig) -> tuple[KyutaiBatch, Callable[[int], str], int, str]:
        import torch

        from captioner.kyutai import checkpoint

        if config.checkpoint is None:
            from captioner.errors import ModelNotFoundError

            raise ModelNotFoundError("the kyutai engine needs --checkpoint DIR_OR_REPO_ID")
        files = checkpoint.inspect(config.checkpoint)
        if config.cpu_threads and not config.device.startswith("cuda"):
            torch.set_num_threads(config.cpu_threads)
        dtype = torch.bfloat16 if config.device.startswith("cuda") else torch.float32
        loaded = checkpoint.load(files, config.device, dtype, progress=config.progress)
        batch = KyutaiBatch(
            loaded.mimi,
            loaded.lm,
            config.slots,
            device=config.device,
            compile=config.compile,
        )
        # A repo id names the model better than its cache directory (a commit hash) would.
        given = Path(config.checkpoint).name if Path(config.checkpoint).is_dir() else None
        model_id = files.config.get("model_id")
        named = model_id.get("name") if isinstance(model_id, dict) else None
        label = named or given or config.checkpoint
        name = f"kyutai:{label}"
        return batch, loaded.piece, files.stt.delay_steps, name

    # --- streams ---------------------------------------------------------------------------------

    def open_stream(self, stream_id: str, start: float) -> None:
        if stream_id in self._slots:
            raise StreamError(f"stream {stream_id!r} is already open")
        if not self._free:
            raise CapacityError(f"all {self.capacity} slots of the kyutai engine are taken")
        self._slots[stream_id] = _Slot(
            index=self._free.pop(0),
            stream_id=stream_id,
            words=WordAssembler(self._piece),
            gate=SpeechGate(SAMPLE_RATE),
            delay_steps=self.delay_steps,
            time=start,
        )

    def set_language(self, stream_id: str, language: str | None) -> None:
        """Kyutai's en_fr model transcribes whichever of its languages it hears: nothing to set,
        and its captions carry no language (it does not say which it heard)."""
        if stream_id not in self._slots:
            raise StreamError(f"stream {stream_id!r} is not open")

    def close_stream(self, stream_id: str) -> None:
        slot = self._slots.pop(stream_id, None)
        if slot is not None:
            self._free.append(slot.index)
            self._free.sort()

    # --- one step --------------------------------------------------------------------------------

    def step(self, chunks: Sequence[AudioChunk]) -> list[StreamUpdate]:
        for chunk in chunks:
            slot = self._slots.get(chunk.stream_id)
            if slot is None:
                raise StreamError(f"stream {chunk.stream_id!r} is not open")
            slot.append(chunk)
        slots = self._batch.slots
        while ready := [s for s in self._slots.values() if s.touched and s.has_frame]:
            pcm = np.zeros((slots, FRAME_SAMPLES), np.float32)
            active = np.zeros(slots, bool)
            reset = np.zeros(slots, bool)
            frames: list[tuple[_Slot, float, np.ndarray | None]] = []
            for slot in ready:
                frame, time, real = slot.next_frame()
                pcm[slot.index], active[slot.index] = frame, True
                reset[slot.index] = not slot.started
                frames.append((slot, time, frame if real else None))
            tokens, vad = self._batch.step(pcm, active, reset)
            self.stats.steps += 1
            for slot, time, fed in frames:
                pause = None if vad is None else float(vad[slot.index, self.config.vad_head])
                self._advance(slot, int(tokens[slot.index]), time, fed, pause)
        updates = []
        for slot in self._slots.values():
            if not slot.touched:
                continue
            pending = slot.words.pending
            updates.append(
                StreamUpdate(
                    slot.stream_id,
                    committed=tuple(slot.committed),
                    tentative=(pending,) if pending is not None else (),
                    end_of_utterance=slot.end_of_utterance,
                    audio_end=slot.time or 0.0,
                )
            )
            slot.committed, slot.end_of_utterance, slot.touched = [], False, False
        return updates

    def _advance(
        self, slot: _Slot, token: int, time: float, frame: np.ndarray | None, pause: float | None
    ) -> None:
        """After a model step: `frame` is the real audio fed, None for priming or flush silence."""
        slot.frame_times.append(time)
        while len(slot.frame_times) > slot.delay_steps + 1:
            slot.frame_times.popleft()
        if not slot.started:
            slot.started = True
            return
        words = slot.words.feed(token, slot.word_time())
        slot.committed.extend(words)
        if words or slot.words.pending is not None:
            slot.heard = True
        if frame is None:
            if slot.flush_frames > 0:
                slot.flush_frames -= 1
                if slot.flush_frames == 0:
                    slot.committed.extend(slot.words.flush())
                    slot.end_of_utterance = True
                    slot.heard = False
            return
        speech = any(slot.gate.feed(frame))
        slot.silent_seconds = 0.0 if speech else slot.silent_seconds + FRAME_SECONDS
        if self._turn_ended(slot, pause):
            slot.flush_frames = slot.delay_steps + 1

    def _turn_ended(self, slot: _Slot, pause: float | None) -> bool:
        """The speaker has stopped: silence has lasted `pause_seconds`, or, sooner, the semantic
        VAD (where the checkpoint has its heads) says the turn ended during silence."""
        if not slot.heard or slot.flush_frames > 0 or slot.ending:
            return False
        if slot.silent_seconds >= self.config.pause_seconds:
            return True
        return pause is not None and slot.silent_seconds > 0 and pause > self.config.vad_threshold
