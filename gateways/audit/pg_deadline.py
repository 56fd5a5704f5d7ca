"""A client-side deadline on every wait for PostgreSQL, for a server that accepts and never answers.

libpq's own safeguards do not cover a hung server: statement_timeout is enforced by the server
process itself (a SIGSTOPped backend enforces nothing), and TCP keepalives and tcp_user_timeout
only notice a peer whose kernel stops acknowledging (a stopped process's kernel still does). So the
audit store's connections wait through psycopg2's wait callback, which gives up after a deadline:
psycopg2 then closes the connection (green.c, green_panic) and the caller sees an OperationalError,
which the dialect table calls "store unavailable": the records stay in the spool and are retried.

The callback is process-wide (psycopg2.extensions.set_wait_callback); connections without a
deadline (any other psycopg2 user in the process) wait as long as libpq would.
"""

from __future__ import annotations

import functools
import select
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg2
import psycopg2.extensions

_installed = threading.Lock()


class DeadlineConnection(psycopg2.extensions.connection):
    """A connection whose every wait (connecting, then each statement) ends after its deadline."""

    def __init__(self, dsn: str, *args: Any, connect_seconds: float, answer_seconds: float, **kwargs: Any) -> None:
        # psycopg2 connects inside __init__ through the wait callback: the deadline must exist first.
        self.wait_seconds = connect_seconds
        super().__init__(dsn, *args, **kwargs)
        self.wait_seconds = answer_seconds


def with_deadlines(connect_seconds: float, answer_seconds: float) -> Callable[..., DeadlineConnection]:
    """For psycopg2.connect(connection_factory=...), which passes its own keyword arguments to libpq."""
    return functools.partial(DeadlineConnection, connect_seconds=connect_seconds, answer_seconds=answer_seconds)


def install() -> None:
    """Route psycopg2's waits through wait_with_deadline (idempotent)."""
    with _installed:
        if psycopg2.extensions.get_wait_callback() is not wait_with_deadline:
            psycopg2.extensions.set_wait_callback(wait_with_deadline)


def wait_with_deadline(connection: Any) -> None:
    seconds = getattr(connection, "wait_seconds", None)
    deadline = None if seconds is None else time.monotonic() + seconds
    while True:
        state = connection.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        # poll(), not select(): a long-running process may hold descriptors above FD_SETSIZE.
        poller = select.poll()
        reading = state == psycopg2.extensions.POLL_READ
        poller.register(connection.fileno(), select.POLLIN if reading else select.POLLOUT)
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0) * 1000
        if not poller.poll(remaining):
            raise psycopg2.OperationalError(f"no answer from the server within {seconds:g} s; it is hung or "
                                            "unreachable")
