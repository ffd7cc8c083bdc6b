"""A real PostgreSQL for tests: initdb + postgres on loopback in a temporary directory, stopped
after the session. PostgreSQL refuses to run as root: as root, it runs as the `postgres` user."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class PostgresServer:
    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="livecaptions-pg-"))
        self.port = free_port()
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self._process: subprocess.Popen[bytes] | None = None
        self._databases = itertools.count(1)

    def start(self) -> None:
        initdb, postgres = _bin("initdb"), _bin("postgres")
        assert initdb and postgres
        if self._as:
            shutil.chown(self.directory, "postgres", "postgres")
        data = self.directory / "data"
        subprocess.run(
            [*self._as, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
        )
        self._process = subprocess.Popen(
            [
                *self._as,
                postgres,
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-k",
                str(self.directory),
                "-c",
                "listen_addresses=127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        import psycopg

        for _ in range(600):
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                assert self._process is not None and self._process.poll() is None, "postgres died"
                threading.Event().wait(0.05)  # the server is starting: nothing to await here
        raise AssertionError("postgres did not start")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"test_{next(self._databases)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        if self._process is not None:
            # pg_ctl's fast shutdown: ends every session, checkpoints, removes its pid file.
            # (Signals to runuser do not all reach postgres behind it.)
            pg_ctl = _bin("pg_ctl")
            assert pg_ctl
            subprocess.run(
                [*self._as, pg_ctl, "stop", "-D", str(self.directory / "data"), "-m", "fast"],
                capture_output=True,
                timeout=120,
            )
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(30)
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if _bin("initdb") is None:
        if os.environ.get("CI"):
            raise AssertionError("PostgreSQL is not installed (scripts/bootstrap.sh test)")
        pytest.skip("PostgreSQL is not installed (scripts/bootstrap.sh test installs it)")
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
