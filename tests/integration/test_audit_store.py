"""The audit store, the same tests on PostgreSQL (a throw-away database on the shared cluster) and SQLite."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from domain.audit import ActionKind, ActionRecord, AssessmentRecord, new_action_id
from gateways.audit.dialects import SQL_DIR
from gateways.audit.factory import open_postgresql, open_sqlite
from gateways.audit.sql_store import SqlAuditStore
from tests.support.pg import pg_dsn_fixture  # noqa: F401 (fixture)

T0 = datetime(2026, 11, 27, 20, 30, tzinfo=UTC)  # 15:30 ET on an early-close... any session day works


@pytest.fixture(params=["sqlite", "postgresql"])
def open_fresh(request, tmp_path):
    """A factory of connections to one empty database of the parametrised dialect."""
    if request.param == "sqlite":
        yield lambda: open_sqlite(tmp_path / "audit.sqlite3")
    else:
        dsn = request.getfixturevalue("pg_dsn")
        yield lambda: open_postgresql(dsn)


@pytest.fixture
def store(open_fresh):
    store = open_fresh()
    store.migrate()
    yield store
    store.close()


def action(seconds: float = 0, **changes) -> ActionRecord:
    values = dict(action_id=new_action_id(), at=T0 + timedelta(seconds=seconds), action=ActionKind.FILL,
                  symbol="SPY 20261127 635C", strike=635.5, expiry=date(2026, 11, 27), right="C", quantity=-2,
                  account="DU123", mode="active", stage="T-5", reason="in the money", moneyness=0.012345,
                  risk_score=0.87, probability_itm=0.61, order_ref="cleanup:abc", order_id="1234",
                  execution_price=1.2345, reference_mid=1.25, slippage=0.0155, pnl_impact=-12.5, success=True,
                  error=None, details={"attempt": 3})
    values.update(changes)
    return ActionRecord(**values)


def test_migrations_from_empty_then_rerun_apply_nothing(open_fresh):
    store = open_fresh()
    try:
        names = sorted(path.name for path in store.dialect.migrations_dir.glob("*.sql"))
        assert store.migrate() == names and names[0].startswith("001_")
        assert store.migrate() == []
        recorded = store.query("SELECT name FROM alm_reporting.schema_migrations ORDER BY name")
        assert [row["name"] for row in recorded] == names
    finally:
        store.close()
    again = open_fresh()  # a new process on the same database
    try:
        assert again.migrate() == []
    finally:
        again.close()


def test_both_dialects_have_the_same_migrations():
    def names(dialect: str) -> list[str]:
        return sorted(path.name for path in (SQL_DIR / dialect).glob("*.sql"))

    assert names("postgresql") == names("sqlite") and names("sqlite")


def test_duplicates_are_counted_once(store: SqlAuditStore):
    first, second = action(0), action(1)
    assert store.insert_actions([first, second, first]) == 2
    assert store.insert_actions([first, second]) == 0
    assert store.query("SELECT COUNT(*) AS n FROM alm_reporting.cleanup_actions")[0]["n"] == 2


def test_actions_round_trip_in_time_order_within_a_half_open_range(store: SqlAuditStore):
    late, early, outside = action(60), action(0, action=ActionKind.CLOSE, success=False, error="rejected"), action(120)
    store.insert_actions([late, outside, early])
    got = store.actions(T0, T0 + timedelta(seconds=120))
    assert got == [early, late]


def test_naive_and_foreign_zone_times_are_stored_as_instants(store: SqlAuditStore):
    from zoneinfo import ZoneInfo

    hong_kong = action(0, at=T0.astimezone(ZoneInfo("Asia/Hong_Kong")))
    store.insert_actions([hong_kong])
    assert [record.action_id for record in store.actions(T0, T0 + timedelta(seconds=1))] == [hong_kong.action_id]


def test_values_beyond_the_columns_are_clamped_not_refused(store: SqlAuditStore):
    # A refused record would block the spool behind it; the store keeps it, cut to fit, and says so.
    wild = action(0, symbol="X" * 80, moneyness=12.5, strike=float("nan"), details={"v": float("inf")})
    assert store.insert_actions([wild]) == 1
    (got,) = store.actions(T0, T0 + timedelta(seconds=1))
    assert got.symbol == "X" * 50 and got.moneyness == 12.5 and got.strike is None
    assert got.details["clamped"] == {"symbol": "X" * 80, "strike": "nan"} and got.details["v"] == "inf"


def test_assessments_are_sampled_once_per_contract_and_time(store: SqlAuditStore):
    sample = AssessmentRecord(T0, "SPY 20261127 635C", -2, 640.1, 0.0079, 0.7, 0.6, "high", "T-5", "close", "active")
    later = AssessmentRecord(T0 + timedelta(minutes=1), "SPY 20261127 635C", -2, 640.2, 0.008, 0.7, 0.6, "high",
                             "T-5", "close", "active")
    assert store.insert_assessments([sample, later, sample]) == 2
    assert store.insert_assessments([sample]) == 0


def test_cleanup_summary_view_counts_per_session_day(store: SqlAuditStore):
    store.insert_actions([
        action(0, action=ActionKind.WARN, success=None, pnl_impact=None, quantity=3),
        action(1, quantity=-2, strike=600.0, pnl_impact=-10.0),
        action(2, quantity=3, strike=640.0, pnl_impact=5.0),
        action(3, action=ActionKind.CLOSE, success=False, error="slippage cap", pnl_impact=None),
        # 01:00 UTC on the 28th is still the 27th in New York: same session day
        action(4 * 3600 + 30 * 60, quantity=1, strike=500.0, pnl_impact=1.0),
    ])
    (row,) = store.query("SELECT * FROM alm_reporting.cleanup_summary")
    assert str(row["date"]) == "2026-11-27"
    assert (row["total_actions"], row["successful"], row["failed"], row["contracts_closed"]) == (5, 3, 1, 6)
    assert float(row["exercise_avoided_notional"]) == pytest.approx(2 * 100 * 600 + 3 * 100 * 640 + 100 * 500)
    assert float(row["pnl_impact"]) == pytest.approx(-4.0)


def seed_daily_summary() -> str:
    """The seed's "Daily cleanup summary" monitoring query as the project keeps it (verbatim, copied from the
    trader's design document into sql/queries/), without its heading comment."""
    text = (SQL_DIR / "queries" / "daily_cleanup_summary.sql").read_text()
    return text[text.index("SELECT"):]


def test_seed_daily_summary_query_runs_unchanged_on_postgresql(pg_dsn):
    from zoneinfo import ZoneInfo

    query = seed_daily_summary()
    assert query.startswith("SELECT ") and "FROM alm_reporting.cleanup_actions" in query
    store = open_postgresql(pg_dsn)
    try:
        store.migrate()
        (server,) = store.query("SELECT now() AS now, current_setting('TimeZone') AS zone")
        now, zone = server["now"], ZoneInfo(server["zone"])
        records = [
            action(0, at=now, moneyness=0.01), action(0, at=now, success=False, moneyness=0.03),
            action(0, at=now - timedelta(days=3), moneyness=-0.02),
            action(0, at=now - timedelta(days=10), moneyness=0.5),  # outside the seed's 7-day window
        ]
        store.insert_actions(records)
        rows = store.query(query)
    finally:
        store.close()
    today, three_days_ago = (now.astimezone(zone).date(), (now - timedelta(days=3)).astimezone(zone).date())
    assert [(row["date"], row["total_actions"], row["successful"]) for row in rows] == [
        (today, 2, 1), (three_days_ago, 1, 1)]
    assert [float(row["avg_moneyness"]) for row in rows] == pytest.approx([0.02, -0.02])
