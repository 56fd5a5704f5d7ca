"""The book rules the Executor trades on: which snapshot is current enough to act on."""

from datetime import datetime, timedelta

from domain.book import snapshot_is_current
from domain.session import EASTERN

RECONNECTED = datetime(2026, 11, 25, 15, 55, 10, tzinfo=EASTERN)


def test_a_snapshot_read_during_the_current_connection_is_current():
    assert snapshot_is_current(RECONNECTED, RECONNECTED)
    assert snapshot_is_current(RECONNECTED + timedelta(seconds=1), RECONNECTED)


def test_a_snapshot_read_before_the_reconnect_is_not():
    # e.g. the trader closed the position by hand in TWS during the outage: it is not in this snapshot
    assert not snapshot_is_current(RECONNECTED - timedelta(microseconds=1), RECONNECTED)


def test_nothing_is_current_while_disconnected_or_before_the_first_read():
    assert not snapshot_is_current(RECONNECTED, None)
    assert not snapshot_is_current(None, RECONNECTED)
