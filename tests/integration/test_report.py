"""The daily narrative: domain.report, the cleanup_summary view and `cleanup-manager report` agree with the rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cli.main import main
from domain.audit import ActionKind, ActionRecord
from domain.report import daily_summaries, narrative
from gateways.audit.factory import open_postgresql, open_sqlite
from tests.support.pg import pg_dsn_fixture  # noqa: F401 (fixture)

DAY = date(2026, 11, 27)  # early close 13:00 ET = 18:00 UTC
CLOSE = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


def simulated_session() -> list[ActionRecord]:
    """An expiration afternoon: warnings, closing orders, fills, a rejection, a refused close, settlements."""
    n = iter(range(1000))

    def rec(minutes_before: float, kind: ActionKind, **values) -> ActionRecord:
        return ActionRecord(action_id=f"sim-{next(n):04d}", at=CLOSE - timedelta(minutes=minutes_before),
                            action=kind, expiry=DAY, account="DU1", mode="active", **values)

    return [
        rec(30, ActionKind.WARN, symbol="SPY 20261127 635P", strike=635.0, right="P", quantity=-3, moneyness=0.004,
            stage="T-30", reason="at risk"),
        rec(30, ActionKind.WARN, symbol="SPY 20261127 640C", strike=640.0, right="C", quantity=2, moneyness=-0.003,
            stage="T-30", reason="at risk"),
        rec(5, ActionKind.CLOSE, symbol="SPY 20261127 635P", strike=635.0, right="P", quantity=3, success=True,
            order_ref="cleanup:a1", stage="T-5"),
        rec(4.5, ActionKind.FILL, symbol="SPY 20261127 635P", strike=635.0, right="P", quantity=3, success=True,
            execution_price=2.13, reference_mid=2.10, slippage=0.03, pnl_impact=-9.0, moneyness=0.004),
        rec(2, ActionKind.CLOSE, symbol="SPY 20261127 640C", strike=640.0, right="C", quantity=-2, success=False,
            error="limit beyond the 0.10 slippage cap", stage="T-2"),
        rec(1.9, ActionKind.REJECT, symbol="SPY 20261127 640C", strike=640.0, right="C", quantity=-2, success=False,
            error="IB 201: order rejected - no trading permissions", stage="T-2"),
        rec(1.5, ActionKind.FILL, symbol="SPY 20261127 640C", strike=640.0, right="C", quantity=-1, success=True,
            execution_price=0.45, reference_mid=0.50, slippage=0.05, pnl_impact=-5.0),
        rec(1.4, ActionKind.FILL, symbol="SPY 20261127 640C", strike=640.0, right="C", quantity=-1, success=True,
            execution_price=0.44, reference_mid=0.50, slippage=0.06, pnl_impact=-6.25),
        rec(-60, ActionKind.SETTLEMENT, symbol="SPY 20261127 650C", strike=650.0, right="C", quantity=1,
            reason="expired worthless", success=True),
        # the next session day
        rec(-24 * 60 * 4 - 10, ActionKind.MODE, reason="monitor", success=True),
    ]


EXPECTED = dict(actions=9, successful=5, failed=2, contracts_closed=5,
                exercise_avoided=3 * 100 * 635.0 + 2 * 100 * 640.0, pnl_impact=-20.25)


@pytest.fixture(params=["sqlite", "postgresql"])
def filled(request, tmp_path, monkeypatch):
    """A store filled by the simulated session, and the environment that points the CLI at it."""
    monkeypatch.delenv("CLEANUP_CONFIG", raising=False)
    if request.param == "sqlite":
        monkeypatch.setenv("CLEANUP_DATA_DIR", str(tmp_path))
        monkeypatch.delenv("CLEANUP_DB_DSN", raising=False)
        store = open_sqlite(tmp_path / "audit.sqlite3")
    else:
        dsn = request.getfixturevalue("pg_dsn")
        monkeypatch.setenv("CLEANUP_DB_DSN", dsn)
        store = open_postgresql(dsn)
    store.migrate()
    store.insert_actions(simulated_session())
    yield store
    store.close()


def test_summary_of_the_rows_matches_the_hand_count(filled):
    rows = filled.actions(datetime(2026, 11, 27, 5, tzinfo=UTC), datetime(2026, 11, 28, 5, tzinfo=UTC))
    (day,) = daily_summaries(rows)
    got = {key: getattr(day, key) for key in EXPECTED}
    assert got == pytest.approx(EXPECTED)
    assert day.success_rate == pytest.approx(5 / 7)
    assert [failure.why for failure in day.failures] == ["limit beyond the 0.10 slippage cap",
                                                         "IB 201: order rejected - no trading permissions"]


def test_the_cleanup_summary_view_gives_the_same_numbers(filled):
    (row,) = [r for r in filled.query("SELECT * FROM alm_reporting.cleanup_summary") if str(r["date"]) == str(DAY)]
    assert (row["total_actions"], row["successful"], row["failed"], row["contracts_closed"]) == \
        (EXPECTED["actions"], EXPECTED["successful"], EXPECTED["failed"], EXPECTED["contracts_closed"])
    assert float(row["exercise_avoided_notional"]) == pytest.approx(EXPECTED["exercise_avoided"])
    assert float(row["pnl_impact"]) == pytest.approx(EXPECTED["pnl_impact"])


def test_report_command_prints_the_numbers_of_the_rows(filled, capsys):
    assert main(["report", "--date", "2026-11-27"]) == 0
    out = capsys.readouterr().out
    assert "2026-11-27 (Friday): 9 cleanup actions, 5 succeeded, 2 failed (success rate 71.4%)" in out
    assert "contracts closed: 5" in out and "exercise avoided: $318,500.00 notional" in out
    assert "P&L impact of the cleanup: -$20.25" in out
    assert "12:58:00 close SPY 20261127 640C: limit beyond the 0.10 slippage cap" in out
    assert "IB 201: order rejected" in out


def test_report_over_several_days_includes_empty_days_and_totals(filled, capsys):
    assert main(["report", "--date", "2026-12-01", "--days", "5"]) == 0
    out = capsys.readouterr().out
    assert "2026-11-28 (Saturday): no cleanup actions" in out
    assert "2026-12-01 (Tuesday): 1 cleanup actions, 1 succeeded" in out
    assert "Total: 10 actions, 5 contracts closed, $318,500.00 exercise avoided, P&L impact -20.25" in out


def test_narrative_of_an_empty_day():
    (day,) = daily_summaries([], days=[DAY])
    assert narrative(day) == ["2026-11-27 (Friday): no cleanup actions"] and day.success_rate is None
