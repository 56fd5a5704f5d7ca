"""Text PostgreSQL refuses is made storable; a record the store refuses anyway is set aside, never retried.

Before: one NUL in a command's text (control socket, a Telegram stranger) made psycopg2 raise
ValueError, the spool retried that batch forever and every later record stayed behind it.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta

import pytest

from domain.audit import NUL_STANDIN, SURROGATE_STANDIN, ActionKind, ActionRecord, AssessmentRecord, storable_text
from gateways.audit import DurableAuditLog, RecordRejected, StoreUnavailable
from gateways.audit.factory import open_postgresql, open_sqlite
from tests.support.pg import pg_dsn_fixture  # noqa: F401 (fixture)

T0 = datetime(2026, 11, 27, 20, 30, tzinfo=UTC)
NUL, SURROGATE = "\x00", "\ud800"


@pytest.fixture(params=["sqlite", "postgresql"])
def open_db(request, tmp_path):
    if request.param == "sqlite":
        return lambda: open_sqlite(tmp_path / "audit.sqlite3")
    dsn = request.getfixturevalue("pg_dsn")
    return lambda: open_postgresql(dsn)


def command(number: int, text: str = "status") -> ActionRecord:
    return ActionRecord(action_id=f"cmd-{number:04d}", at=T0 + timedelta(seconds=number), action=ActionKind.COMMAND,
                        reason=f"ctl: {text}", success=True, details={"command": text})


def stored_ids(store) -> list[str]:
    return [row["action_id"] for row in store.query("SELECT action_id FROM alm_reporting.cleanup_actions ORDER BY id")]


def test_storable_text_replaces_nul_and_lone_surrogates_and_keeps_everything_else():
    assert storable_text(f"a{NUL}b{SURROGATE}c") == f"a{NUL_STANDIN}b{SURROGATE_STANDIN}c"
    kept = "résumé 635C ✓ 😀 \t\n\x01\x7f"
    assert storable_text(kept) == kept


def test_unstorable_text_in_every_field_is_stored_with_stand_ins_and_says_so(open_db):
    store = open_db()
    store.migrate()
    bad = f"x{NUL}y{SURROGATE}"
    record = ActionRecord(
        action_id="every-field", at=T0, action=ActionKind.COMMAND, symbol=f"SPY{NUL}", strike=635.0,
        expiry=date(2026, 11, 27), right="C", quantity=1, account=f"DU1{NUL}", mode=bad, stage=bad, reason=bad,
        order_ref=bad, order_id=bad, error=bad, details={"text": bad, f"key{NUL}": [bad, {"deep": bad}]})
    assert store.insert_actions([record]) == 1
    assert store.insert_assessments([AssessmentRecord(T0, f"SPY{NUL}", 1, 636.0, 0.01, 0.5, 0.5, bad, bad, bad,
                                                      bad)]) == 1
    [back] = store.actions(T0 - timedelta(seconds=1), T0 + timedelta(seconds=1))
    clean = f"x{NUL_STANDIN}y{SURROGATE_STANDIN}"
    assert (back.symbol, back.account, back.mode, back.stage, back.reason) == (
        f"SPY{NUL_STANDIN}", f"DU1{NUL_STANDIN}", clean, clean, clean)
    assert (back.order_ref, back.order_id, back.error) == (clean, clean, clean)
    assert back.details["text"] == clean and back.details[f"key{NUL_STANDIN}"] == [clean, {"deep": clean}]
    assert set(back.details["sanitised"]) == {"symbol", "account", "mode", "stage", "reason", "order_ref",
                                              "order_id", "error", "details"}
    store.close()


def test_a_nul_from_a_client_no_longer_blocks_the_records_behind_it(tmp_path, open_db):
    log = DurableAuditLog(tmp_path / "spool", open_db)
    for number in range(49):
        log.append(command(number, f"close SPY{NUL}635C" if number == 10 else "status"))
    log.append(command(49))
    assert log.drain() == 50 and log.backlog() == 0
    store = open_db()
    assert stored_ids(store) == [f"cmd-{n:04d}" for n in range(50)]
    store.close()
    assert not (tmp_path / "spool" / "rejected.jsonl").exists()  # made storable, not set aside


def test_what_the_driver_refuses_itself_is_a_refusal_not_an_outage(pg_dsn, tmp_path):
    # psycopg2 raises ValueError for a NUL before anything is sent; sqlite3 OverflowError beyond 64 bits.
    postgres = open_postgresql(pg_dsn)
    with pytest.raises(RecordRejected, match="ValueError: A string literal cannot contain NUL"):
        postgres.query("SELECT %s AS text", (f"a{NUL}b",))
    with pytest.raises(RecordRejected, match="UnicodeEncodeError"):
        postgres.query("SELECT %s AS text", (f"a{SURROGATE}b",))
    with pytest.raises(RecordRejected, match="UntranslatableCharacter"):  # the server: no \\u0000 in jsonb
        postgres.query("SELECT %s::jsonb AS j", (json.dumps({"a": NUL}),))
    assert postgres.query("SELECT 1 AS one") == [{"one": 1}]  # and the connection is still good
    postgres.close()
    sqlite = open_sqlite(tmp_path / "audit.sqlite3")
    with pytest.raises(RecordRejected, match="OverflowError"):
        sqlite.query("SELECT ? AS big", (2**70,))
    sqlite.close()


def test_a_missing_table_or_privilege_is_an_outage_that_keeps_the_records(pg_dsn):
    store = open_postgresql(pg_dsn)
    store.migrate()
    with pytest.raises(StoreUnavailable, match="UndefinedTable"):
        store.query("SELECT * FROM alm_reporting.no_such_table")
    store.close()


def test_a_record_the_database_refuses_is_set_aside_with_its_reason_and_the_rest_delivered_after_restart(
        tmp_path, pg_dsn, caplog):
    store = open_postgresql(pg_dsn)
    store.migrate()
    # A real refusal by the server (SQLSTATE 23514), for a record the sanitiser cannot make acceptable.
    store.query("ALTER TABLE alm_reporting.cleanup_actions ADD CONSTRAINT no_poison CHECK (reason <> 'ctl: poison') "
                "NOT VALID; SELECT 1 AS done")
    store.close()
    spool = tmp_path / "spool"
    first = DurableAuditLog(spool, lambda: open_postgresql(pg_dsn))
    for number in range(20):
        first.append(command(number, "poison" if number == 7 else "status"))
    with caplog.at_level(logging.ERROR):
        assert first.drain() == 19 and first.backlog() == 0
    first.close()
    [rejected] = [json.loads(line) for line in (spool / "rejected.jsonl").read_text().splitlines()]
    assert rejected["where"] == "spool-00000001.jsonl line 8"
    assert "refused by the database" in rejected["reason"] and "CheckViolation" in rejected["reason"]
    assert json.loads(rejected["line"])["record"]["action_id"] == "cmd-0007"

    again = DurableAuditLog(spool, lambda: open_postgresql(pg_dsn))  # a restart: nothing is retried
    assert again.backlog() == 0
    again.append(command(20))
    assert again.drain() == 1 and again.finish() == 0
    store = open_postgresql(pg_dsn)
    assert stored_ids(store) == [f"cmd-{n:04d}" for n in range(21) if n != 7]
    store.close()
    assert len((spool / "rejected.jsonl").read_text().splitlines()) == 1
