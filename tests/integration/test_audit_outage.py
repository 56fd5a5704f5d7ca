"""A database outage is paged on duration: the oldest unsent record older than audit_outage_minutes.

Before: only the Prometheus rule on a backlog above 50 existed; a 6.5-minute outage peaked at 35
records and nobody was paged.
"""

from __future__ import annotations

import time
from datetime import timedelta

from domain.alerts import Severity
from domain.audit_outage import OUTAGE_KEY, AuditOutage, SpoolView, observe
from gateways.audit import DurableAuditLog, StoreUnavailable
from gateways.audit.factory import open_sqlite
from tests.support.audit_tree import START, audit_tree, command_record, tell_audit

FIVE = timedelta(minutes=5)


def view(oldest_minutes_ago: float | None, backlog: int = 3):
    oldest = None if oldest_minutes_ago is None else START - timedelta(minutes=oldest_minutes_ago)
    return SpoolView(oldest, backlog, "/var/lib/cleanup-manager/spool", "postgresql: cannot connect: refused")


def test_pages_once_when_the_oldest_record_waited_too_long_then_announces_the_end():
    outage = AuditOutage()
    outage, alert = observe(outage, view(4.9), START, FIVE)
    assert alert is None and outage.since is None  # not yet: a slow store is not an outage
    outage, alert = observe(outage, view(5.5, backlog=7), START, FIVE)
    assert alert is not None and alert.severity is Severity.CRITICAL and alert.key == OUTAGE_KEY
    assert "for 6 min" in alert.body and "7 record(s) are kept only in the local spool" in alert.body
    assert "postgresql: cannot connect: refused" in alert.body
    for minutes in (6, 30, 120):  # the same outage: no second page
        outage, again = observe(outage, view(minutes, backlog=900), START, FIVE)
        assert again is None
    outage, end = observe(outage, view(None, backlog=0), START + timedelta(minutes=1), FIVE)
    assert end is not None and end.severity is Severity.INFO and "taking records again" in end.title
    assert outage.since is None
    outage, quiet = observe(outage, view(0.1), START, FIVE)
    assert quiet is None


def test_a_few_records_waiting_six_minutes_page_through_the_notifier_once(tmp_path):
    down = [True]

    def factory():
        if down[0]:
            raise StoreUnavailable("postgresql: cannot connect: connection refused")
        return open_sqlite(tmp_path / "audit.sqlite3")

    # Background delivery with a short backoff, as in `run`; the tree's clock is virtual.
    audit = DurableAuditLog(tmp_path / "spool", factory, backoff_initial=0.05, backoff_max=0.05)
    with audit_tree(tmp_path, audit) as (service, alerts):
        clock = service.clock
        for second in range(int(6.5 * 60)):  # 6.5 minutes, one record a minute: never near 50
            if second % 60 == 0:
                tell_audit(service, command_record(second, clock.now()))
            service.tick_in_order()
            clock.advance(1.0)
        paged = [a for a in alerts.sent if a.key == OUTAGE_KEY]
        assert len(paged) == 1 and paged[0].severity is Severity.CRITICAL
        assert audit.backlog() <= 7
        age = service.metrics.registry.get_sample_value("cleanup_audit_oldest_unsent_age_seconds")
        assert age is not None and age > 300
        assert service.metrics.registry.get_sample_value("cleanup_audit_outage_page_seconds") == 300

        down[0] = False
        deadline = time.monotonic() + 30
        while audit.backlog() and time.monotonic() < deadline:
            service.tick_in_order()
            clock.advance(1.0)
            time.sleep(0.05)
        service.tick_in_order()
        service.sync()
        ended = [a for a in alerts.sent if a.key == f"{OUTAGE_KEY}:restored"]
        assert len(ended) == 1 and len([a for a in alerts.sent if a.key == OUTAGE_KEY]) == 1
        assert service.metrics.registry.get_sample_value("cleanup_audit_oldest_unsent_age_seconds") == 0
    assert audit.finish() == 0
