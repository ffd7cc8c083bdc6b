"""Finding, checking and loading a Kyutai STT checkpoint, offline.

A checkpoint is a directory (or a Hugging Face repo already in the local cache) holding
config.json (`model_type: "stt"`, `stt_config`, the LM's hyper-parameters and the names of the
other files), the LM weights, the Mimi weights and a SentencePiece tokenizer. Every file is checked
before anything heavy is loaded, so a wrong path fails at start-up with the name of what is missing.
Loading itself goes through moshi's own `CheckpointInfo`, the code path of Kyutai's tools.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from captioner.errors import CheckpointError, ModelNotFoundError

if TYPE_CHECKING:
    import torch
    from moshi.models.compression import MimiModel
    from moshi.models.lm import LMModel

# moshi's defaults when config.json does not name a file.
DEFAULT_FILES = {
    "moshi_name": "model.safetensors",
    "mimi_name": "tokenizer-e351c8d8-checkpoint125.safetensors",
    "tokenizer_name": "tokenizer_spm_32k_3.model",
}
# Keys of config.json that are not LM hyper-parameters (moshi's loader pops the same ones).
NON_LM_KEYS = (
    "moshi_name",
    "mimi_name",
    "mimi_config_name",
    "tokenizer_name",
    "lora_name",
    "model_type",
    "lm_gen_config",
    "tts_config",
    "stt_config",
    "model_id",
)
FRAME_RATE = 12.5  # Mimi codes per second


@dataclass(frozen=True)
class SttConfig:
    audio_delay_seconds: float
    audio_silence_prefix_seconds: float = 0.0

    @property
    def delay_steps(self) -> int:
        """How many 80 ms steps the text lags behind the audio."""
        return round(self.audio_delay_seconds * FRAME_RATE)


@dataclass(frozen=True)
class CheckpointFiles:
    directory: Path
    config: dict[str, Any]
    lm_weights: Path
    mimi_weights: Path
    tokenizer: Path
    mimi_config: Path | None
    stt: SttConfig

    @property
    def lm_kwargs(self) -> dict[str, Any]:
        return lm_kwargs(self.config)


def lm_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in NON_LM_KEYS}


def resolve(checkpoint: str | Path) -> Path:
    """A local directory, or a Hugging Face repo id looked up in the local cache only."""
    path = Path(checkpoint).expanduser()
    if path.is_dir():
        return path
    text = str(checkpoint)
    looks_like_repo = text.count("/") == 1 and not text.startswith((".", "/", "~"))
    if not looks_like_repo:
        raise ModelNotFoundError(f"Kyutai checkpoint directory {path} does not exist")
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError as exc:  # pragma: no cover - huggingface-hub is a dependency
        raise ModelNotFoundError(f"{text} is not a directory") from exc
    try:
        return Path(snapshot_download(text, local_files_only=True))
    except LocalEntryNotFoundError as exc:
        raise ModelNotFoundError(
            f"{text} is neither a directory nor a Hugging Face repo in the local cache; this "
            "server never downloads: fetch it beforehand (huggingface-cli download "
            f"{text}) or pass the directory that holds it"
        ) from exc


def inspect(checkpoint: str | Path) -> CheckpointFiles:
    """Check a checkpoint without loading any weights."""
    directory = resolve(checkpoint)
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise ModelNotFoundError(f"Kyutai checkpoint {directory} lacks config.json")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{config_path} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_path} must hold a JSON object")
    model_type = config.get("model_type")
    if model_type != "stt":
        raise CheckpointError(
            f"{config_path} has model_type {model_type!r}; the kyutai engine needs a "
            "speech-to-text checkpoint (model_type 'stt', e.g. kyutai/stt-1b-en_fr)"
        )
    stt = config.get("stt_config")
    if not isinstance(stt, dict) or not isinstance(stt.get("audio_delay_seconds"), int | float):
        raise CheckpointError(f"{config_path} lacks stt_config.audio_delay_seconds")
    if config.get("dep_q", 0) != 0:
        raise CheckpointError(f"{config_path}: dep_q must be 0 for speech-to-text")

    def required(key: str) -> Path:
        name = str(config.get(key, DEFAULT_FILES[key]))
        path = directory / name
        if not path.is_file():
            raise ModelNotFoundError(f"Kyutai checkpoint {directory} lacks {name} ({key})")
        return path

    mimi_config = None
    if "mimi_config_name" in config:
        mimi_config = directory / config["mimi_config_name"]
        if not mimi_config.is_file():
            raise ModelNotFoundError(
                f"Kyutai checkpoint {directory} lacks {config['mimi_config_name']} "
                "(mimi_config_name)"
            )
    return CheckpointFiles(
        directory=directory,
        config=config,
        lm_weights=required("moshi_name"),
        mimi_weights=required("mimi_name"),
        tokenizer=required("tokenizer_name"),
        mimi_config=mimi_config,
        stt=SttConfig(
            float(stt["audio_delay_seconds"]), float(stt.get("audio_silence_prefix_seconds", 0.0))
        ),
    )


@dataclass
class LoadedCheckpoint:
    files: CheckpointFiles
    mimi: MimiModel
    lm: LMModel
    piece: Callable[[int], str]  # text token id → SentencePiece piece


def load(
    files: CheckpointFiles, device: str, dtype: torch.dtype, *, progress: bool = True
) -> LoadedCheckpoint:
    """Load Mimi, the LM and the tokenizer through moshi's CheckpointInfo, with a progress bar."""
    from moshi.models import loaders
    from tqdm import tqdm

    info = loaders.CheckpointInfo.from_hf_repo(
        str(files.directory),
        moshi_weights=files.lm_weights,
        mimi_weights=files.mimi_weights,
        tokenizer=files.tokenizer,
        config_path=files.directory / "config.json",
        mimi_config_path=files.mimi_config,
    )
    with tqdm(total=3, desc=f"loading {files.directory.name}", disable=not progress) as bar:
        try:
            bar.set_postfix_str("mimi")
            mimi = info.get_mimi(device=device)
            bar.update()
            bar.set_postfix_str("lm")
            lm = info.get_moshi(device=device, dtype=dtype)
            bar.update()
            bar.set_postfix_str("tokenizer")
            tokenizer = info.get_text_tokenizer()
            bar.update()
        except (RuntimeError, OSError, ValueError, KeyError) as exc:
            raise CheckpointError(
                f"Kyutai checkpoint {files.directory} could not be loaded: {exc}"
            ) from exc
    if tokenizer.vocab_size() > lm.text_card:
        raise CheckpointError(
            f"{files.tokenizer.name} has {tokenizer.vocab_size()} pieces, more than the LM's "
            f"text_card {lm.text_card}: the tokenizer does not belong to this model"
        )
    vocabulary = tokenizer.vocab_size()

    def piece(token: int) -> str:
        # Ids past the tokenizer's pieces, and control pieces (<s>, </s>, <unk>), spell nothing.
        if not 0 <= token < vocabulary:
            return ""
        if tokenizer.is_control(token) or tokenizer.is_unknown(token):
            return ""
        return tokenizer.id_to_piece(token)

    return LoadedCheckpoint(files, mimi, lm, piece)
