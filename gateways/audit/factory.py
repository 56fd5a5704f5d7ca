"""Where the audit trail lives (a StoreTarget) and opening it: PostgreSQL for a DSN, else a SQLite file.

The service's target comes from its settings (``db_dsn``, else ``<data_dir>/audit.sqlite3``); a
simulation names its own (``simulate --store``, by default a SQLite file in the run's directory).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from config.schema import Settings, mask_dsn
from gateways.audit.dialects import SQLITE, postgresql
from gateways.audit.protocol import StoreUnavailable
from gateways.audit.sql_store import SqlAuditStore
from gateways.private_files import create_private_file, private_directory

SQLITE_FILE = "audit.sqlite3"
# A hung or vanished PostgreSQL must cost the audit trail a retry, never a wedged thread:
CONNECT_TIMEOUT_SECONDS = 5.0  # the whole connection handshake (enforced by pg_deadline)
STATEMENT_TIMEOUT_SECONDS = 10.0  # the server cancels a statement stuck longer (a lock wait, a slow disk)
ANSWER_TIMEOUT_SECONDS = 15.0  # no answer at all to a statement: the server is hung (pg_deadline)
# TCP keepalives: an idle connection to a host that vanished is dropped after 10 + 3 x 5 s; data sent
# and not acknowledged for 20 s (tcp_user_timeout, Linux) drops it too.
KEEPALIVE_PARAMETERS = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
                        "tcp_user_timeout": 20_000}


@dataclass(frozen=True)
class StoreTarget:
    dsn: str = ""  # a libpq DSN: PostgreSQL; empty: the SQLite file
    sqlite_path: Path | None = None
    password: str = field(default="", repr=False)  # added to the DSN; never printed

    def describe(self) -> str:
        """Fit to print: the password is never part of it."""
        return f"PostgreSQL {mask_dsn(self.dsn)}" if self.dsn else f"SQLite {self.sqlite_path}"


def target_of(settings: Settings) -> StoreTarget:
    """The service's audit store: ``db_dsn`` when set, the SQLite file in ``data_dir`` otherwise."""
    if settings.db_dsn:
        return StoreTarget(dsn=settings.db_dsn, password=settings.secret("db_password"))
    return StoreTarget(sqlite_path=settings.data_dir / SQLITE_FILE)


def named_target(name: str) -> StoreTarget:
    """A store named on the command line: a PostgreSQL DSN (URI or key=value) or a SQLite file path."""
    if name.startswith(("postgresql://", "postgres://")) or "=" in name:
        return StoreTarget(dsn=name)
    return StoreTarget(sqlite_path=Path(name).expanduser())


def open_store(settings: Settings) -> SqlAuditStore:
    """The service's store (raising StoreUnavailable, password-free, when it cannot be reached)."""
    return open_target(target_of(settings))


def open_target(target: StoreTarget) -> SqlAuditStore:
    if target.dsn:
        from psycopg2.extensions import make_dsn

        dsn = make_dsn(target.dsn, password=target.password) if target.password else target.dsn
        return open_postgresql(dsn, password=target.password)
    assert target.sqlite_path is not None
    return open_sqlite(target.sqlite_path)


def redactor(password: str):
    def redact(text: str) -> str:
        text = " ".join(mask_dsn(text).split())  # libpq's messages span lines; ours are one line
        return text.replace(password, "******") if password else text
    return redact


def open_postgresql(dsn: str, *, password: str = "", connect_seconds: float = CONNECT_TIMEOUT_SECONDS,
                    statement_seconds: float = STATEMENT_TIMEOUT_SECONDS,
                    answer_seconds: float = ANSWER_TIMEOUT_SECONDS) -> SqlAuditStore:
    import psycopg2
    from psycopg2.extensions import parse_dsn

    from gateways.audit import pg_deadline

    dialect = postgresql()
    password = password or parse_dsn(dsn).get("password", "")
    redact = redactor(password)
    pg_deadline.install()
    try:
        connection = psycopg2.connect(
            dsn, connection_factory=pg_deadline.with_deadlines(connect_seconds, answer_seconds),
            application_name="cleanup-manager-audit",
            # libpq applies connect_timeout only when it waits itself; with the wait callback, the
            # DeadlineConnection enforces connect_seconds. Both say the same.
            connect_timeout=max(int(connect_seconds), 2),
            options=f"-c statement_timeout={int(statement_seconds * 1000)}", **KEEPALIVE_PARAMETERS)
    except psycopg2.Error as error:
        raise StoreUnavailable(redact(f"postgresql: cannot connect: {str(error).strip()}")) from None
    return SqlAuditStore(connection, dialect, redact)


def open_sqlite(path: Path) -> SqlAuditStore:
    """The tables live in the attached file named alm_reporting, so SQL names match PostgreSQL's."""
    try:
        private_directory(path.parent)
        # Created 0600 before SQLite opens it: SQLite would create it 0644 (less the umask), and it
        # gives its -wal and -shm files the database file's mode.
        create_private_file(path)
        # isolation_level=None: transactions are opened explicitly (BEGIN IMMEDIATE) by the store.
        connection = sqlite3.connect(":memory:", isolation_level=None, timeout=10, check_same_thread=False)
        connection.execute("ATTACH DATABASE ? AS alm_reporting", (str(path),))
        connection.execute("PRAGMA alm_reporting.journal_mode=WAL")
        connection.execute("PRAGMA alm_reporting.synchronous=FULL")
    except (OSError, sqlite3.Error) as error:
        raise StoreUnavailable(" ".join(f"sqlite: cannot open {path}: {error}".split())) from None
    return SqlAuditStore(connection, SQLITE)
