"""open_store(settings): PostgreSQL when a DSN is configured, the embedded SQLite file otherwise."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from config.settings import Settings, mask_dsn
from gateways.audit.dialects import SQLITE, postgresql
from gateways.audit.protocol import StoreUnavailable
from gateways.audit.sql_store import SqlAuditStore

SQLITE_FILE = "audit.sqlite3"
CONNECT_TIMEOUT_SECONDS = 5


def open_store(settings: Settings) -> SqlAuditStore:
    """Connect (raising StoreUnavailable, password-free, when the database cannot be reached)."""
    if settings.db_dsn:
        return open_postgresql(settings.database_dsn, password=settings.secret("db_password"))
    return open_sqlite(settings.data_dir / SQLITE_FILE)


def redactor(password: str):
    def redact(text: str) -> str:
        text = " ".join(mask_dsn(text).split())  # libpq's messages span lines; ours are one line
        return text.replace(password, "******") if password else text
    return redact


def open_postgresql(dsn: str, *, password: str = "") -> SqlAuditStore:
    import psycopg2
    from psycopg2.extensions import parse_dsn

    dialect = postgresql()
    password = password or parse_dsn(dsn).get("password", "")
    redact = redactor(password)
    try:
        connection = psycopg2.connect(dsn, connect_timeout=CONNECT_TIMEOUT_SECONDS,
                                      application_name="cleanup-manager-audit")
    except psycopg2.Error as error:
        raise StoreUnavailable(redact(f"postgresql: cannot connect: {str(error).strip()}")) from None
    return SqlAuditStore(connection, dialect, redact)


def open_sqlite(path: Path) -> SqlAuditStore:
    """The tables live in the attached file named alm_reporting, so SQL names match PostgreSQL's."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are opened explicitly (BEGIN IMMEDIATE) by the store.
        connection = sqlite3.connect(":memory:", isolation_level=None, timeout=10, check_same_thread=False)
        connection.execute("ATTACH DATABASE ? AS alm_reporting", (str(path),))
        connection.execute("PRAGMA alm_reporting.journal_mode=WAL")
        connection.execute("PRAGMA alm_reporting.synchronous=FULL")
    except (OSError, sqlite3.Error) as error:
        raise StoreUnavailable(" ".join(f"sqlite: cannot open {path}: {error}".split())) from None
    return SqlAuditStore(connection, SQLITE)
