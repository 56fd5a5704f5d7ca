"""DurableAuditLog: nothing acknowledged is lost, nothing is stored twice, nothing blocks the backlog."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain.audit import ActionKind, ActionRecord, AssessmentRecord
from gateways.audit import DurableAuditLog, RecordRejected, StoreUnavailable
from gateways.audit.factory import open_postgresql, open_sqlite
from tests.support.pg import pg_dsn_fixture, private_server_fixture  # noqa: F401 (fixtures)

T0 = datetime(2026, 11, 27, 20, 30, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


def record(number: int) -> ActionRecord:
    return ActionRecord(action_id=f"rec-{number:06d}", at=T0 + timedelta(milliseconds=number),
                        action=ActionKind.WARN, symbol="SPY 20261127 635C", quantity=number, success=True)


def stored_numbers(store) -> list[int]:
    rows = store.query("SELECT action_id FROM alm_reporting.cleanup_actions ORDER BY id")
    return [int(row["action_id"].removeprefix("rec-")) for row in rows]


@pytest.fixture(params=["sqlite", "postgresql"])
def open_db(request, tmp_path):
    if request.param == "sqlite":
        return lambda: open_sqlite(tmp_path / "audit.sqlite3")
    dsn = request.getfixturevalue("pg_dsn")
    return lambda: open_postgresql(dsn)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_records_reach_the_store_in_order_and_the_backlog_empties(tmp_path, open_db):
    log = DurableAuditLog(tmp_path / "spool", open_db)
    for number in range(30):
        log.append(record(number))
    log.append(AssessmentRecord(T0, "SPY 20261127 635C", 1, 640.0, 0.01, 0.5, 0.5, "high", "T-5", "close", "active"))
    log.append(record(30))
    assert log.backlog() == 32
    assert log.drain(max_records=10) == 10 and log.backlog() == 22
    assert log.drain() == 22 and log.backlog() == 0
    assert log.drain() == 0
    log.close()
    store = open_db()
    assert stored_numbers(store) == list(range(31))
    assert store.query("SELECT COUNT(*) AS n FROM alm_reporting.risk_assessments")[0]["n"] == 1
    store.close()


def test_database_down_keeps_everything_backs_off_and_never_raises(tmp_path, caplog):
    clock, calls, down = FakeClock(), [], [True]

    def factory():
        calls.append(clock.now)
        if down[0]:
            raise StoreUnavailable("postgresql: cannot connect: connection refused")
        return open_sqlite(tmp_path / "audit.sqlite3")

    log = DurableAuditLog(tmp_path / "spool", factory, backoff_initial=1, backoff_max=4, monotonic=clock)
    for number in range(5):
        log.append(record(number))
    assert log.drain() == 0 and log.backlog() == 5
    assert log.drain() == 0 and calls == [0.0]  # backing off: no reconnect storm
    for _ in range(4):
        clock.now += 10
        assert log.drain() == 0
    assert len(calls) == 5 and "5 records kept in the spool" in caplog.text
    down[0] = False
    clock.now += 10
    assert log.drain() == 5 and log.backlog() == 0


def test_a_store_failing_mid_batch_loses_nothing(tmp_path, open_db):
    failures = [1]

    class Flaky:
        """Inserts, then fails before the caller hears of it: the window ON CONFLICT must cover."""

        def __init__(self) -> None:
            self.inner = open_db()

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def insert_actions(self, records):
            inserted = self.inner.insert_actions(records)
            if failures[0]:
                failures[0] -= 1
                raise StoreUnavailable("connection lost after commit")
            return inserted

    log = DurableAuditLog(tmp_path / "spool", Flaky, backoff_initial=0)
    for number in range(8):
        log.append(record(number))
    assert log.drain() == 0 and log.backlog() == 8
    assert log.drain() == 8 and log.backlog() == 0
    store = open_db()
    assert stored_numbers(store) == list(range(8))
    store.close()


def test_corrupt_line_is_reported_once_with_its_line_number_and_skipped(tmp_path, caplog):
    spool = tmp_path / "spool"
    log = DurableAuditLog(spool, lambda: open_sqlite(tmp_path / "audit.sqlite3"))
    log.append(record(0))
    with open(spool / "spool-00000001.jsonl", "ab") as handle:
        handle.write(b'{"kind": "action", "record": {"at": "not a time"\n')  # e.g. a disk fault
    log.append(record(2))
    with caplog.at_level(logging.ERROR):
        assert log.drain() == 2
        assert log.drain() == 0
    reports = [message for message in caplog.messages if "skipped" in message]
    assert len(reports) == 1 and "spool-00000001.jsonl line 2" in reports[0]
    assert json.loads((spool / "rejected.jsonl").read_text())["where"] == "spool-00000001.jsonl line 2"
    store = open_sqlite(tmp_path / "audit.sqlite3")
    assert stored_numbers(store) == [0, 2]


def test_a_record_the_database_refuses_is_set_aside_not_retried_forever(tmp_path, caplog):
    inner = open_sqlite(tmp_path / "audit.sqlite3")

    class Picky:
        def __getattr__(self, name):
            return getattr(inner, name)

        def insert_actions(self, records):
            if any(r.action_id == "rec-000001" for r in records):
                raise RecordRejected("value out of range")
            return inner.insert_actions(records)

    log = DurableAuditLog(tmp_path / "spool", Picky)
    for number in range(3):
        log.append(record(number))
    assert log.drain() == 2 and log.backlog() == 0
    assert stored_numbers(inner) == [0, 2] and "line 2 skipped: refused by the database" in caplog.text


def test_a_line_torn_by_a_crash_is_cut_and_later_appends_stay_readable(tmp_path):
    spool = tmp_path / "spool"
    log = DurableAuditLog(spool, lambda: open_sqlite(tmp_path / "audit.sqlite3"))
    log.append(record(0))
    log.close()
    with open(spool / "spool-00000001.jsonl", "ab") as handle:
        handle.write(b'{"kind": "action", "rec')  # the process died inside write(): never acknowledged
    log = DurableAuditLog(spool, lambda: open_sqlite(tmp_path / "audit.sqlite3"))
    log.append(record(1))
    assert log.backlog() == 2 and log.drain() == 2
    assert stored_numbers(open_sqlite(tmp_path / "audit.sqlite3")) == [0, 1]


def test_drained_segments_rotate_and_restart_resumes_after_them(tmp_path):
    spool = tmp_path / "spool"
    log = DurableAuditLog(spool, lambda: open_sqlite(tmp_path / "audit.sqlite3"), rotate_bytes=500)
    for number in range(10):
        log.append(record(number))
    assert log.drain() == 10
    assert sorted(path.name for path in spool.glob("spool-*")) == ["spool-00000002.jsonl"]
    log.append(record(10))
    log.close()
    log = DurableAuditLog(spool, lambda: open_sqlite(tmp_path / "audit.sqlite3"), rotate_bytes=500)
    assert log.backlog() == 1 and log.drain() == 1
    assert stored_numbers(open_sqlite(tmp_path / "audit.sqlite3")) == list(range(11))


CHILD = """
import sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from domain.audit import ActionKind, ActionRecord
from gateways.audit.factory import open_postgresql, open_sqlite
from gateways.audit.durable import DurableAuditLog

spool, target, start = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
factory = (lambda: open_postgresql(target)) if "=" in target else (lambda: open_sqlite(Path(target)))
log = DurableAuditLog(spool, factory, rotate_bytes=4000)
t0 = datetime(2026, 11, 27, 20, 30, tzinfo=UTC)
number = start
while True:
    log.append(ActionRecord(action_id=f"rec-{number:06d}", at=t0 + timedelta(milliseconds=number),
                            action=ActionKind.WARN, quantity=number, success=True))
    print(number, flush=True)  # acknowledged: durable from here on
    number += 1
    if number % 7 == 0:
        log.drain(max_records=5)
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkilled_process_restarted_on_the_same_spool_loses_and_duplicates_nothing(tmp_path, backend, request):
    target = str(tmp_path / "audit.sqlite3") if backend == "sqlite" else request.getfixturevalue("pg_dsn")
    open_db = (lambda: open_sqlite(Path(target))) if backend == "sqlite" else (lambda: open_postgresql(target))
    spool = tmp_path / "spool"
    acknowledged: list[int] = []
    start = 0
    for _round in range(3):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(spool), target, str(start)], cwd=REPO,
                                 stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        deadline = time.monotonic() + 60
        while len(acknowledged) < start + 150 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if line:
                acknowledged.append(int(line))
        child.send_signal(signal.SIGKILL)
        child.wait()
        acknowledged += [int(line) for line in child.stdout.read().split()]  # printed before the kill landed
        start = acknowledged[-1] + 1
    assert len(acknowledged) >= 450
    log = DurableAuditLog(spool, open_db, rotate_bytes=4000)
    while log.backlog():
        assert log.drain() > 0
    log.close()
    store = open_db()
    stored = stored_numbers(store)
    store.close()
    # A record fsync'd just before the kill, whose acknowledgement never got out, may be stored too
    # (the restarted writer then sends it again: ON CONFLICT keeps one). Nothing else may differ.
    assert stored == list(range(len(stored)))  # in order, no gap, no duplicate
    assert set(acknowledged) <= set(stored) and len(stored) <= len(acknowledged) + 1


def test_private_server_stopped_midway_ends_with_every_record_once_and_in_order(tmp_path, private_server):
    clock = FakeClock()
    log = DurableAuditLog(tmp_path / "spool", lambda: open_postgresql(private_server.dsn), backoff_initial=1,
                          monotonic=clock)
    during_outage = []
    for number in range(100):
        log.append(record(number))
        if number % 10 == 9:
            delivered = log.drain(max_records=7)  # leaves a backlog behind on purpose
            if 40 < number < 70:
                during_outage.append(delivered)
        if number == 40:
            private_server.stop()
        if number == 70:
            private_server.start()
        clock.now += 1
    assert during_outage == [0, 0, 0] and log.backlog() > 30
    while log.backlog():
        clock.now += 60
        log.drain()
    log.close()
    store = open_postgresql(private_server.dsn)
    assert stored_numbers(store) == list(range(100))
    store.close()
