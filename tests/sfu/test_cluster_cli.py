"""`livecaptions` cluster flags: without --redis nothing changes; with it, a typed ClusterConfig."""

from pathlib import Path

import pytest

from sfu.cli import config_from_args, parse_args


def test_without_redis_a_node_is_alone() -> None:
    config = config_from_args(parse_args([]))
    assert config.cluster is None
    assert config.log.path == Path("livecaptions.db")


def test_cluster_flags_make_a_node() -> None:
    args = parse_args(
        [
            *("--port", "9000", "--redis", "redis://10.0.0.2:6379/1", "--node-id", "n1"),
            *("--advertise-url", "ws://10.0.0.5:9000/ws", "--lease-ms", "4500"),
            *("--drain-timeout", "30", "--log-db", "postgresql://u:p@db:5432/captions"),
        ]
    )
    config = config_from_args(args)
    cluster = config.cluster
    assert cluster is not None
    assert (cluster.redis_url, cluster.node_id, cluster.advertise_url) == (
        "redis://10.0.0.2:6379/1",
        "n1",
        "ws://10.0.0.5:9000/ws",
    )
    assert cluster.lease_ms == 4500 and cluster.renew_every * 1000 < cluster.lease_ms
    assert cluster.drain_timeout == 30
    assert config.log.path == "postgresql://u:p@db:5432/captions"  # a URL, not a folded Path
    assert config_from_args(parse_args(["--redis", "redis://r:6379/0"])).cluster.node_id == (  # type: ignore[union-attr]
        "127.0.0.1:8080"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--node-id", "n1"],
        ["--advertise-url", "ws://x/ws"],
        ["--redis", "redis://r/0", "--lease-ms", "10"],
    ],
)
def test_bad_cluster_flags_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_args(argv)
    assert exit_.value.code == 2


def test_a_redis_url_must_be_one() -> None:
    from sfu.cluster import ClusterError

    with pytest.raises(ClusterError, match="redis:// URL"):
        config_from_args(parse_args(["--redis", "http://r:6379"]))


HIDE_REDIS = (
    "import sys; sys.modules['redis'] = None; sys.modules['psycopg'] = None\n"
    "from sfu.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


@pytest.mark.parametrize(
    ("flags", "missing"),
    [
        (["--redis", "redis://127.0.0.1:1/0"], "'redis'"),
        (["--log-db", "postgresql://u:p@127.0.0.1:1/captions"], "'psycopg'"),
    ],
)
def test_missing_cluster_extras_stop_with_one_line(
    tmp_path: Path, flags: list[str], missing: str
) -> None:
    """Without `scripts/bootstrap.sh cluster` the node stops with one line saying what to run,
    not a ModuleNotFoundError traceback (issue 22)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent.parent
    result = subprocess.run(
        [sys.executable, "-c", HIDE_REDIS, "--port", "0", *flags],
        cwd=tmp_path,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("livecaptions: ")
    assert missing in lines[0] and "scripts/bootstrap.sh cluster" in lines[0]
    assert "Traceback" not in result.stderr
