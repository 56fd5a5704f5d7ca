"""An audit store outage, judged by how long records have waited: page once, announce the end (pure).

A backlog count says little: a quiet afternoon writes a few records a minute, so a database down for
an hour can leave fewer than 50 waiting. The age of the oldest record not yet in the store says how
long the trail has existed only on local disk, whatever the traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.alerts import Alert, Severity
from domain.session import EASTERN

OUTAGE_KEY = "audit:outage"


@dataclass(frozen=True)
class AuditOutage:
    """since: the oldest waiting record's time when the outage was paged; None while there is none."""

    since: datetime | None = None


@dataclass(frozen=True)
class SpoolView:
    """What the AuditLogger sees of its spool on a tick."""

    oldest_unsent: datetime | None
    backlog: int
    spool: str
    last_error: str


def observe(outage: AuditOutage, view: SpoolView, now: datetime,
            page_after: timedelta) -> tuple[AuditOutage, Alert | None]:
    """The outage after this look at the spool, and the alert to send now, if any."""
    overdue = view.oldest_unsent is not None and now - view.oldest_unsent > page_after
    if overdue and outage.since is None:
        assert view.oldest_unsent is not None
        return AuditOutage(view.oldest_unsent), _paged(view, now)
    if not overdue and outage.since is not None:
        return AuditOutage(), _ended(outage.since, view, now)
    return outage, None


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:.0f} min"


def _paged(view: SpoolView, now: datetime) -> Alert:
    assert view.oldest_unsent is not None
    waiting = now - view.oldest_unsent
    cause = f" Last error: {view.last_error}." if view.last_error else ""
    return Alert(Severity.CRITICAL, "Audit database not taking records",
                 f"No audit record has reached the database for {_minutes(waiting)} (oldest waiting from "
                 f"{view.oldest_unsent.astimezone(EASTERN):%H:%M:%S} ET); {view.backlog} record(s) are kept "
                 f"only in the local spool {view.spool}.{cause} Trading goes on. Check the audit database "
                 "(db_dsn): the records are sent as soon as it answers.",
                 OUTAGE_KEY)


def _ended(since: datetime, view: SpoolView, now: datetime) -> Alert:
    left = f"; {view.backlog} recent record(s) still on their way" if view.backlog else ""
    return Alert(Severity.INFO, "Audit database taking records again",
                 f"The audit backlog waiting since {since.astimezone(EASTERN):%H:%M:%S} ET has reached the "
                 f"database ({_minutes(now - since)} after it was written){left}.",
                 f"{OUTAGE_KEY}:restored")
