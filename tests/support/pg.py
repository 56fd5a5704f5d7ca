"""PostgreSQL for tests: throw-away databases on the shared cluster, and private servers to stop and start.

Shared cluster (127.0.0.1:5432, trust auth): each test gets CREATE DATABASE with a random name, dropped
afterwards. Tests that stop the server get their own instance: initdb refuses to run as root, so it is
created and run as the ``postgres`` user in a temporary directory that user owns, on a free port.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED = "host=127.0.0.1 port=5432 user=postgres"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def shared_cluster_available() -> bool:
    try:
        import psycopg2

        psycopg2.connect(f"{SHARED} dbname=postgres connect_timeout=3").close()
        return True
    except Exception:
        return False


def _admin(sql: str) -> None:
    import psycopg2

    connection = psycopg2.connect(f"{SHARED} dbname=postgres")
    connection.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


@contextlib.contextmanager
def temporary_database() -> Iterator[str]:
    """A fresh database on the shared cluster; yields its DSN, drops it afterwards."""
    name = f"audit_test_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE DATABASE {name}")
    try:
        yield f"{SHARED} dbname={name}"
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(name="pg_dsn")
def pg_dsn_fixture() -> Iterator[str]:
    if not shared_cluster_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432 (make test starts it)")
    with temporary_database() as dsn:
        yield dsn


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateServer:
    """A PostgreSQL server of our own, run as the postgres user, to stop and start at will."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="audit-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        shutil.chown(self.directory, "postgres", "postgres")
        self._as_postgres(PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def _as_postgres(self, *command: object) -> None:
        run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*run_as, *map(str, command)], check=True, capture_output=True, cwd=self.directory)

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.directory}"
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.directory / "server.log", "-o", options,
                          "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(name="private_server")
def private_server_fixture() -> Iterator[PrivateServer]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 server binaries are not installed")
    server = PrivateServer()
    server.start()
    try:
        yield server
    finally:
        server.remove()
