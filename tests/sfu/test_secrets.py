"""Secrets come from a flag, a file or the environment, never silently from two places."""

from pathlib import Path

import pytest

from sfu.cli import config_from_args, parse_args


def test_tokens_from_files(tmp_path: Path) -> None:
    participant = tmp_path / "participant"
    participant.write_text("p-s3cret\n")
    reviewer = tmp_path / "reviewer"
    reviewer.write_text("r-s3cret\n")
    args = parse_args(
        ["--participant-token-file", str(participant), "--reviewer-token-file", str(reviewer)],
        environ={},
    )
    config = config_from_args(args)
    assert config.participant_token == "p-s3cret"
    assert config.log.reviewer_token == "r-s3cret"
    assert config.metrics_room_labels is False


def test_tokens_from_the_environment_and_flags_win() -> None:
    env = {"LIVECAPTIONS_PARTICIPANT_TOKEN": "p-env", "LIVECAPTIONS_REVIEWER_TOKEN": "r-env"}
    config = config_from_args(parse_args([], environ=env))
    assert (config.participant_token, config.log.reviewer_token) == ("p-env", "r-env")
    config = config_from_args(parse_args(["--participant-token", "p-flag"], environ=env))
    assert config.participant_token == "p-flag"
    assert config_from_args(parse_args([], environ={})).participant_token is None


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (b"", [], "must hold one non-empty line"),
        (b"\xff\xfe", [], "cannot read the secret file"),
        (b"ok", ["--participant-token", "x"], "as a flag or a file, not both"),
        (None, [], "cannot read the secret file"),
    ],
)
def test_unusable_secret_files_stop_start_up(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes | None,
    extra: list[str],
    message: str,
) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--participant-token-file", str(path), *extra], environ={})
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_same_token_for_both_roles_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse_args(
            [], environ={"LIVECAPTIONS_PARTICIPANT_TOKEN": "t", "LIVECAPTIONS_REVIEWER_TOKEN": "t"}
        )
    assert "must differ" in capsys.readouterr().err
