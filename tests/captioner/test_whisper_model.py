"""Assembling Whisper base from its two installed pip packages, and refusing bad parts."""

from pathlib import Path

import pytest

from captioner.errors import ModelChecksumError, ModelNotFoundError
from captioner.whisper.model import (
    BASE_MODEL_SHA256,
    BASE_PARTS,
    SIDE_FILES,
    ModelPart,
    assemble_base_model,
    file_sha256,
)


def fake_part(root: Path, package: str, file: str, content: bytes | None) -> None:
    """An importable package shaped like a part; `content` None: the part file is missing."""
    data = root / package / "data"
    data.mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    if content is not None:
        (data / file).write_bytes(content)


def test_the_first_start_assembles_the_pinned_model_and_later_ones_reuse_it(
    tmp_path: Path,
) -> None:
    model = assemble_base_model(tmp_path)
    assert file_sha256(model / "model.bin") == BASE_MODEL_SHA256
    assert all((model / name).is_file() for name in SIDE_FILES)
    assert [p.name for p in tmp_path.iterdir()] == [model.name]  # no staging left behind
    written = (model / "model.bin").stat().st_mtime_ns
    assert assemble_base_model(tmp_path) == model
    assert (model / "model.bin").stat().st_mtime_ns == written


def test_a_damaged_cache_is_rebuilt_from_the_packages(tmp_path: Path) -> None:
    model = assemble_base_model(tmp_path)
    with open(model / "model.bin", "r+b") as f:
        f.write(b"garbage")
    assert file_sha256(assemble_base_model(tmp_path) / "model.bin") == BASE_MODEL_SHA256


def test_a_part_that_is_not_the_pinned_one_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_part(tmp_path / "site", "fake_part2", "model.bin.part2", b"not the second half")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    parts = (BASE_PARTS[0], ModelPart("fake_part2", "fake-part2", "model.bin.part2", "0" * 64))
    with pytest.raises(
        ModelChecksumError, match=r"model\.bin\.part2 has sha256 .*reinstall fake-part2"
    ):
        assemble_base_model(tmp_path / "cache", parts)
    assert not (tmp_path / "cache" / f"whisper-base-{BASE_MODEL_SHA256[:12]}").exists()


def test_a_missing_part_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_part(tmp_path / "site", "empty_part", "model.bin.part2", None)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    missing_file = (BASE_PARTS[0], ModelPart("empty_part", "empty-part", "model.bin.part2", ""))
    with pytest.raises(ModelNotFoundError, match=r"part2 is missing: reinstall empty-part"):
        assemble_base_model(tmp_path / "cache", missing_file)
    not_installed = (BASE_PARTS[0], ModelPart("no_such_part", "no-such-part", "x", ""))
    with pytest.raises(ModelNotFoundError, match=r"needs the package no-such-part .*not installed"):
        assemble_base_model(tmp_path / "cache", not_installed)


def test_parts_that_do_not_make_the_pinned_model_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelChecksumError, match="do not make the pinned Whisper base model"):
        assemble_base_model(tmp_path, BASE_PARTS, sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []
