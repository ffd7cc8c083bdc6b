"""The Kyutai engine on a tiny random-weight checkpoint, loaded like a real one."""

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from captioner.engine import SAMPLE_RATE, AudioChunk
from captioner.errors import CapacityError, CheckpointError, ModelNotFoundError
from captioner.kyutai.checkpoint import inspect
from captioner.kyutai.config import KyutaiConfig
from captioner.kyutai.engine import FRAME_SAMPLES, KyutaiEngine
from client.audio import load_audio
from protocol import Word

from ..conftest import DATA

TICK = 2 * FRAME_SAMPLES  # audio per engine step in these tests: 160 ms


@pytest.fixture(scope="module")
def jfk() -> np.ndarray:
    return load_audio(DATA / "jfk.flac", SAMPLE_RATE)


def engine(checkpoint: Path, slots: int = 3) -> KyutaiEngine:
    return KyutaiEngine(KyutaiConfig(checkpoint=str(checkpoint), slots=slots, progress=False))


def run(
    kyutai: KyutaiEngine, streams: dict[str, tuple[int, np.ndarray]]
) -> dict[str, list[tuple[Word, bool]]]:
    """Feed each stream from its start tick, one tick of audio per step, ending it after its
    last; returns each stream's committed words with whether an utterance ended after them."""
    out: dict[str, list[tuple[Word, bool]]] = {s: [] for s in streams}
    ticks = max(start + -(-len(pcm) // TICK) for start, pcm in streams.values())
    for tick in range(ticks + 1):
        chunks = []
        for stream_id, (start, pcm) in streams.items():
            offset = (tick - start) * TICK
            if tick == start:
                kyutai.open_stream(stream_id, start * TICK / SAMPLE_RATE)
            if 0 <= offset < len(pcm):
                piece = pcm[offset : offset + TICK]
                last = offset + TICK >= len(pcm)
                chunks.append(AudioChunk(stream_id, offset / SAMPLE_RATE, piece, last))
        for update in kyutai.step(chunks):
            out[update.stream_id] += [(w, False) for w in update.committed]
            if update.end_of_utterance and out[update.stream_id]:
                word, _ = out[update.stream_id][-1]
                out[update.stream_id][-1] = (word, True)
        for chunk in chunks:
            if chunk.end_of_stream:
                kyutai.close_stream(chunk.stream_id)
    return out


def test_the_tiny_checkpoint_loads_through_the_real_loader(tiny_checkpoint: Path) -> None:
    files = inspect(tiny_checkpoint)
    assert files.config["model_type"] == "stt"
    assert files.stt.delay_steps == 6  # 0.5 s at 12.5 Hz
    kyutai = engine(tiny_checkpoint)
    assert kyutai.name.startswith("kyutai:") and kyutai.capacity == 3


def test_streams_in_a_batch_produce_what_they_produce_alone(
    tiny_checkpoint: Path, jfk: np.ndarray
) -> None:
    streams = {
        "long": (0, jfk[: 6 * SAMPLE_RATE]),
        "late": (5, jfk[3 * SAMPLE_RATE : 6 * SAMPLE_RATE] * 0.5),
        "short": (2, jfk[SAMPLE_RATE : 2 * SAMPLE_RATE]),
        # Joins after "short" left, in the slot it freed: a reset must leave nothing behind.
        "reuse": (20, jfk[6 * SAMPLE_RATE : 9 * SAMPLE_RATE]),
    }
    together = run(engine(tiny_checkpoint), streams)
    for stream_id, spec in streams.items():
        alone = run(engine(tiny_checkpoint), {stream_id: spec})[stream_id]
        assert together[stream_id] == alone, stream_id
        assert alone, f"{stream_id}: the tiny model said nothing"


def test_words_have_monotonic_times_and_the_end_flushes_the_last_ones(
    tiny_checkpoint: Path, jfk: np.ndarray
) -> None:
    # Speech, a pause long enough to flush, speech again: the inserted silence takes no time.
    pause = np.zeros(SAMPLE_RATE, np.float32)
    audio = np.concatenate([jfk[: 4 * SAMPLE_RATE], pause, jfk[4 * SAMPLE_RATE :]])
    kyutai = engine(tiny_checkpoint)
    words = run(kyutai, {"a": (0, audio)})["a"]
    assert any(ended for _, ended in words[:-1]), "the pause did not flush"
    starts = [w.start for w, _ in words]
    assert starts == sorted(starts)
    assert all(w.start <= w.end for w, _ in words)
    assert all(a.end <= b.start + 1e-9 for (a, _), (b, _) in itertools.pairwise(words))
    duration = len(audio) / SAMPLE_RATE
    assert words[-1][0].end <= duration + 0.1
    assert words[-1][1], "the end of the stream ends the utterance"
    # Nothing was left in progress: the stream's slot is free again.
    assert kyutai.capacity == 3 and len(kyutai._free) == 3


def test_the_first_real_frame_reaches_the_lm(tiny_checkpoint: Path, jfk: np.ndarray) -> None:
    """moshi's LM replaces a slot's first input (offset 0) with its initial tokens: the engine
    primes each new stream with a silence frame so real audio starts at offset 1."""
    kyutai = engine(tiny_checkpoint)
    kyutai.open_stream("a", 0.0)
    kyutai.step([AudioChunk("a", 0.0, jfk[:FRAME_SAMPLES])])
    state = kyutai._batch.lm_gen._streaming_state
    assert state is not None and int(state.offsets[0]) == 2  # priming + the real frame


def test_every_slot_taken_refuses_a_new_stream(tiny_checkpoint: Path) -> None:
    kyutai = engine(tiny_checkpoint, slots=1)
    kyutai.open_stream("a", 0.0)
    with pytest.raises(CapacityError, match="1 slots"):
        kyutai.open_stream("b", 0.0)
    kyutai.close_stream("a")
    kyutai.open_stream("b", 0.0)


def test_a_pause_flushes_the_words_before_it(tiny_checkpoint: Path, jfk: np.ndarray) -> None:
    """Speech then silence: the utterance ends during the silence, not at the end of stream."""
    pcm = np.concatenate([jfk[: 3 * SAMPLE_RATE], np.zeros(3 * SAMPLE_RATE, np.float32)])
    kyutai = KyutaiEngine(
        KyutaiConfig(checkpoint=str(tiny_checkpoint), slots=1, progress=False, vad_threshold=2.0)
    )  # a threshold no probability reaches: the energy rule decides
    kyutai.open_stream("a", 0.0)
    ended_at = None
    for offset in range(0, len(pcm), TICK):
        for update in kyutai.step([AudioChunk("a", offset / SAMPLE_RATE, pcm[offset:][:TICK])]):
            if update.end_of_utterance and ended_at is None:
                ended_at = offset / SAMPLE_RATE
    assert ended_at is not None and 3.0 < ended_at < 4.5


def write_checkpoint(source: Path, target: Path, **changes: object) -> Path:
    shutil.copytree(source, target)
    config = json.loads((target / "config.json").read_text())
    config.update(changes)
    (target / "config.json").write_text(json.dumps(config))
    return target


def test_bad_checkpoints_fail_with_a_clear_error(tiny_checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        inspect(tmp_path / "nowhere")
    with pytest.raises(ModelNotFoundError, match="local cache"):
        inspect("kyutai/not-in-the-cache")
    missing = write_checkpoint(tiny_checkpoint, tmp_path / "missing")
    (missing / "tokenizer.model").unlink()
    with pytest.raises(ModelNotFoundError, match=r"lacks tokenizer\.model"):
        inspect(missing)
    moshi = write_checkpoint(tiny_checkpoint, tmp_path / "moshi", model_type="moshi")
    with pytest.raises(CheckpointError, match="model_type 'moshi'"):
        inspect(moshi)
    broken = write_checkpoint(tiny_checkpoint, tmp_path / "broken", dim=32)
    with pytest.raises(CheckpointError, match="could not be loaded"):
        engine(broken)


def test_a_repo_id_resolves_from_the_local_cache_only(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Hugging Face repo id is looked up in the cache (its on-disk layout), never fetched."""
    from huggingface_hub import constants

    commit = "0" * 40
    repo = tmp_path / "models--kyutai--stt-tiny"
    shutil.copytree(tiny_checkpoint, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    files = inspect("kyutai/stt-tiny")
    assert files.directory == repo / "snapshots" / commit
    assert files.lm_weights.is_file()
