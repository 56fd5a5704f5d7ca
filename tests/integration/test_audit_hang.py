"""A hung PostgreSQL (accepts, never answers) costs the audit trail a retry, never a wedged actor.

The hang is a loopback proxy in front of the real server that stops forwarding: what a SIGSTOPped
postmaster looks like to a client (the kernel still accepts and acknowledges), without stopping
the shared server other tests use.
"""

from __future__ import annotations

import socket
import time
from datetime import timedelta

import psycopg2
import pytest

from domain.audit import ActionKind, ActionRecord
from gateways.audit import DurableAuditLog, StoreUnavailable
from gateways.audit.factory import KEEPALIVE_PARAMETERS, STATEMENT_TIMEOUT_SECONDS, open_postgresql
from tests.support.audit_tree import START, audit_tree, command_record, tell_audit
from tests.support.pg import pg_dsn_fixture  # noqa: F401 (fixture)
from tests.support.tcp_proxy import FreezableProxy

T0 = START


def record(number: int) -> ActionRecord:
    return ActionRecord(action_id=f"hang-{number:04d}", at=T0 + timedelta(seconds=number), action=ActionKind.WARN,
                        symbol="SPY", success=True)


def dbname(dsn: str) -> str:
    return dict(part.split("=", 1) for part in dsn.split())["dbname"]


def stored_ids(dsn: str) -> list[str]:
    store = open_postgresql(dsn)
    try:
        rows = store.query("SELECT action_id FROM alm_reporting.cleanup_actions ORDER BY id")
        return [row["action_id"] for row in rows]
    finally:
        store.close()


def test_every_connection_has_keepalives_and_a_statement_timeout(pg_dsn):
    store = open_postgresql(pg_dsn)
    try:
        connection = store._connection
        parameters = connection.get_dsn_parameters()
        assert {key: parameters[key] for key in KEEPALIVE_PARAMETERS} == {
            key: str(value) for key, value in KEEPALIVE_PARAMETERS.items()}
        probe = socket.socket(fileno=connection.fileno())  # the connection's own socket, as the kernel sees it
        try:
            assert probe.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert probe.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == KEEPALIVE_PARAMETERS["keepalives_idle"]
            assert probe.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 5
            assert probe.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
            assert probe.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 20_000
        finally:
            probe.detach()
        assert store.query("SHOW statement_timeout")[0]["statement_timeout"] == f"{STATEMENT_TIMEOUT_SECONDS:g}s"
    finally:
        store.close()


def test_a_server_that_accepts_and_never_answers_is_unavailable_after_the_connect_deadline(pg_dsn):
    with FreezableProxy(5432) as proxy:
        proxy.freeze()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="no answer from the server within 1 s"):
            open_postgresql(proxy.dsn(dbname(pg_dsn)), connect_seconds=1)
        assert time.monotonic() - started < 3


def test_a_server_hung_mid_session_is_unavailable_after_the_answer_deadline_and_nothing_doubles(pg_dsn):
    with FreezableProxy(5432) as proxy:
        store = open_postgresql(proxy.dsn(dbname(pg_dsn)), answer_seconds=1)
        store.migrate()
        proxy.freeze()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="within 1 s"):
            store.insert_actions([record(1)])
        assert time.monotonic() - started < 3
        store.close()
        proxy.thaw()
        retry = open_postgresql(proxy.dsn(dbname(pg_dsn)))
        retry.insert_actions([record(1)])
        retry.close()
    assert stored_ids(pg_dsn) == ["hang-0001"]


def test_a_statement_stuck_on_a_lock_is_cancelled_by_the_statement_timeout(pg_dsn):
    store = open_postgresql(pg_dsn, statement_seconds=1)
    store.migrate()
    holder = psycopg2.connect(pg_dsn)
    try:
        with holder.cursor() as cursor:
            cursor.execute("LOCK TABLE alm_reporting.cleanup_actions IN ACCESS EXCLUSIVE MODE")  # held until rollback
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="QueryCanceled"):  # retried later, not set aside
            store.insert_actions([record(2)])
        assert 0.9 < time.monotonic() - started < 5
    finally:
        holder.rollback()
        holder.close()
        store.close()


def test_a_hung_database_never_wedges_the_audit_actor_or_the_watchdog(tmp_path, pg_dsn):
    with FreezableProxy(5432) as proxy:
        target = proxy.dsn(dbname(pg_dsn))
        audit = DurableAuditLog(tmp_path / "spool", lambda: open_postgresql(target, connect_seconds=1,
                                                                             answer_seconds=2))
        with audit_tree(tmp_path, audit) as (service, _alerts):
            tell_audit(service, command_record(0, T0))
            service.sync(rounds=1)
            service.tick()
            deadline = time.monotonic() + 30
            while audit.backlog() and time.monotonic() < deadline:
                time.sleep(0.1)
                service.tick()
            assert audit.backlog() == 0  # the store works before it hangs

            proxy.freeze()
            watched_until = time.monotonic() + 6  # longer than a statement's and a connection's deadlines
            number = 1
            while time.monotonic() < watched_until:
                tell_audit(service, command_record(number, T0))
                service.tick()
                assert service.supervisor.healthy(timeout=2.0), "the watchdog would stop pinging"
                number += 1
                time.sleep(0.2)
            service.sync(rounds=1)  # the actor answers: every record told is handled, none waits in its inbox
            spooled = [r.action_id for r in audit.unsent_records() if r.action_id.startswith("cmd-")]
            assert spooled == [f"cmd-{n:06d}" for n in range(1, number)]  # all in the spool, none in the store

            proxy.thaw()
            deadline = time.monotonic() + 60
            while audit.backlog() and time.monotonic() < deadline:
                service.tick()
                time.sleep(0.2)
            assert audit.backlog() == 0
        assert audit.finish() == 0
    assert [i for i in stored_ids(pg_dsn) if i.startswith("cmd-")] == [f"cmd-{n:06d}" for n in range(number)]
