"""What differs between PostgreSQL and SQLite, kept in one small table per dialect.

Everything else (SQL text of inserts and selects, row mapping, migration bookkeeping) is shared by
gateways.audit.sql_store.SqlAuditStore.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sql
from gateways.audit.rows import Encoders

# The sql package ships the .sql files, so migrations are found in a wheel install as well as a checkout.
SQL_DIR = Path(sql.__file__).resolve().parent
MIGRATIONS_TABLE = "alm_reporting.schema_migrations"


@dataclass(frozen=True)
class Dialect:
    name: str
    placeholder: str
    encoders: Encoders
    bootstrap: tuple[str, ...]  # statements that make the migrations table exist (idempotent)
    begin: str | None  # statement opening a write transaction; None: the driver opens one implicitly
    # The one table that tells a failed write apart (sql_store._ErrorTranslation applies it, in this order):
    unavailable: tuple[type[BaseException], ...]  # "store unavailable": keep the records, retry later
    refused: tuple[type[BaseException], ...]  # "record refused": set the record aside, never retry it
    driver_error: tuple[type[BaseException], ...]  # every driver error
    run_script: Callable[[Any, str], None]  # execute a multi-statement migration inside the open transaction

    @property
    def migrations_dir(self) -> Path:
        return SQL_DIR / self.name


def _utc_text(instant: datetime) -> str:
    # Fixed width, UTC: text order is time order, and SQLite's date() understands it.
    return instant.astimezone(UTC).isoformat(timespec="microseconds")


def _sqlite_script(connection: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the open transaction first; run statement by statement instead.
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            connection.execute(statement)
            statement = ""
    if statement.strip():
        connection.execute(statement)  # a trailing comment is a no-op; an unfinished statement fails loudly


def _postgres_script(connection: Any, script: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(script)


# The driver refuses parameters it cannot send before the database sees them: psycopg2 raises
# ValueError for a NUL in a string, UnicodeEncodeError (a ValueError) for a lone surrogate; sqlite3
# raises OverflowError for an integer beyond 64 bits. Retrying the same record cannot help.
PARAMETER_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, OverflowError)

SQLITE = Dialect(
    name="sqlite",
    placeholder="?",
    encoders=Encoders(timestamp=_utc_text, day=lambda day: day.isoformat(), boolean=int),
    bootstrap=(f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, "
               "applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",),
    begin="BEGIN IMMEDIATE",
    # locked, disk I/O, read-only file; a closed connection
    unavailable=(sqlite3.OperationalError, sqlite3.InterfaceError, sqlite3.ProgrammingError),
    refused=(sqlite3.Error, *PARAMETER_ERRORS),  # constraint, data; anything else the driver raises
    driver_error=(sqlite3.Error,),
    run_script=_sqlite_script,
)


def postgresql() -> Dialect:
    """Built on first use so SQLite-only installs never import psycopg2."""
    import psycopg2

    return Dialect(
        name="postgresql",
        placeholder="%s",
        encoders=Encoders(timestamp=lambda instant: instant, day=lambda day: day, boolean=bool),
        bootstrap=("CREATE SCHEMA IF NOT EXISTS alm_reporting",
                   f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, "
                   "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"),
        begin=None,
        # Connection lost or refused, statement_timeout (QueryCanceled is an OperationalError), server
        # trouble; ProgrammingError is SQLSTATE class 42 (a missing table, a revoked privilege): the
        # store is misconfigured, not the record, so keep the records until a person fixes it.
        unavailable=(psycopg2.OperationalError, psycopg2.InterfaceError, psycopg2.InternalError,
                     psycopg2.ProgrammingError),
        # DataError (class 22: a value the column cannot hold), IntegrityError (class 23: a constraint),
        # and anything else the driver raises for this record.
        refused=(psycopg2.Error, *PARAMETER_ERRORS),
        driver_error=(psycopg2.Error,),
        run_script=_postgres_script,
    )
