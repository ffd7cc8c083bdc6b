"""One place per engine: both servers take their engine flags from the registry, so that the same
flags mean the same configuration in `livecaptions` and `livecaptions-captioner`."""

from pathlib import Path

import pytest

from captioner.engines import ENGINES, EngineChoice
from captionserver.cli import config_from_args as captioner_config
from captionserver.cli import parse_args as captioner_args
from sfu.cli import config_from_args as sfu_config
from sfu.cli import parse_args as sfu_args

FLAGS = [
    ["--model", "tiny.en", "--english-model", "base", "--cpu-threads", "3"],
    ["--model-dir", "/models/w", "--model-sha256", "AB12"],
    ["--engine", "kyutai", "--checkpoint", "ckpt", "--device", "cuda", "--slots", "8"],
]


def both(argv: list[str]) -> tuple[EngineChoice, EngineChoice]:
    sfu = sfu_config(sfu_args(argv))
    server = captioner_config(captioner_args(argv), {})
    return (
        EngineChoice(name=sfu.engine, whisper=sfu.whisper, kyutai=sfu.kyutai),
        EngineChoice(name=server.engine, whisper=server.whisper, kyutai=server.kyutai),
    )


@pytest.mark.parametrize("argv", FLAGS)
def test_the_same_flags_configure_the_same_engine_in_both_servers(argv: list[str]) -> None:
    sfu, server = both(argv)
    assert sfu.name == server.name
    assert sfu.whisper == server.whisper
    # Only the progress bars differ: a caption server has no terminal to draw them on.
    assert sfu.kyutai == server.kyutai.__class__(**{**vars(server.kyutai), "progress": True})


def test_the_model_checksum_is_checked_alike(capsys: pytest.CaptureFixture[str]) -> None:
    sfu, server = both(["--model-dir", "/models/w", "--model-sha256", "AB12"])
    assert sfu.whisper.sha256 == server.whisper.sha256 == "ab12"
    assert sfu.whisper.model_dir == Path("/models/w")
    sfu, server = both([])  # the named models are checked against their pinned checksums
    assert sfu.whisper.sha256 is server.whisper.sha256 is None
    for parse in (sfu_args, captioner_args):
        with pytest.raises(SystemExit):
            parse(["--model-sha256", "ab12"])  # nothing to check it against
        assert "--model-sha256 checks --model-dir" in capsys.readouterr().err


def test_every_registered_engine_and_its_errors_reach_both_servers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for parse in (sfu_args, captioner_args):
        for name in ENGINES:
            assert parse(["--engine", name, "--checkpoint", "c"]).engine_choice.name == name
        with pytest.raises(SystemExit):
            parse(["--engine", "kyutai"])
        assert "--engine kyutai needs --checkpoint" in capsys.readouterr().err
        with pytest.raises(SystemExit):
            parse(["--cpu-threads", "0"])
        assert "--cpu-threads must be at least 1" in capsys.readouterr().err


def test_an_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown engine 'vosk'"):
        EngineChoice(name="vosk")
