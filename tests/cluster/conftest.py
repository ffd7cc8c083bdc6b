"""Cluster tests: a real redis-server on loopback (started here, stopped after), nodes as
in-process servers or `livecaptions` subprocesses on their own loopback ports."""

import asyncio
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
import redis

from captionlog.log import LogConfig
from sfu.cluster import ClusterConfig
from sfu.config import ServerConfig
from sfu.server import CaptionServer

from ..servers import PostgresServer, free_port

LEASE_MS = 3000  # short leases keep failover tests quick (production default: 6000); not
# shorter: a node starved of CPU on a busy test machine must still renew in time


@dataclass
class RedisServer:
    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        for _ in range(200):  # until it answers (each try waits up to its own timeout)
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None:
                    raise AssertionError("redis-server exited at start") from None
                threading.Event().wait(0.05)
        raise AssertionError("redis-server did not answer")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self.process = None

    def client(self) -> "redis.Redis[bytes]":
        return redis.Redis(port=self.port, socket_timeout=5)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (scripts/bootstrap.sh test installs it)")
    server = RedisServer(free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def cluster_config(redis_url: str, node_id: str, prefix: str) -> ClusterConfig:
    return ClusterConfig(
        redis_url=redis_url,
        node_id=node_id,
        key_prefix=prefix,
        lease_ms=LEASE_MS,
        renew_every=0.75,
        load_ttl_ms=LEASE_MS,
        publish_every=0.5,
        redis_timeout=0.5,
        # Both nodes live in the test's one process, whose CPU is every node's: a busy test machine
        # must not send a room elsewhere (tests/sfu/test_cluster_nodes.py tests the CPU rule).
        cpu_limit=float("inf"),
    )


@asynccontextmanager
async def node(
    redis_url: str, node_id: str, prefix: str = "test", **kwargs: object
) -> AsyncIterator[CaptionServer]:
    server = CaptionServer(
        ServerConfig(port=0, cluster=cluster_config(redis_url, node_id, prefix), **kwargs)  # type: ignore[arg-type]
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


REVIEWER = "review-secret"


@pytest_asyncio.fixture(loop_scope="function")
async def two_nodes(
    redis_server: RedisServer, postgres_server: PostgresServer
) -> AsyncIterator[tuple[CaptionServer, CaptionServer]]:
    """Nodes a and b on one Redis, sharing one caption log in PostgreSQL."""
    log = LogConfig(path=postgres_server.new_database(), reviewer_token=REVIEWER)
    async with (
        node(redis_server.url, "a", log=log, max_participants=32) as a,
        node(redis_server.url, "b", log=log, max_participants=32) as b,
    ):
        yield a, b


def ws_url(server: CaptionServer) -> str:
    return f"ws://127.0.0.1:{server.port}/ws"


@contextmanager
def node_process(
    redis_url: str, node_id: str, *extra: str
) -> Iterator[tuple[subprocess.Popen[str], int, list[str]]]:
    """`livecaptions --redis …` as a subprocess: (process, port, its output lines so far)."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "sfu", "--port", "0", "--log-level", "INFO", "--no-log"),
            *("--redis", redis_url, "--node-id", node_id, "--lease-ms", str(LEASE_MS), *extra),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if match := re.search(r"ready on http://127\.0\.0\.1:(\d+)", line):
                break
        else:
            raise AssertionError(f"node {node_id} exited before it was ready:\n{''.join(output)}")
        threading.Thread(target=output.extend, args=(process.stdout,), daemon=True).start()
        yield process, int(match.group(1)), output
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


async def wait_until(predicate: object, timeout: float, step: float = 0.05) -> None:
    """Poll a condition (for state outside any event we can await: another process, Redis)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"not true after {timeout} s: {predicate}")
        await asyncio.sleep(step)
