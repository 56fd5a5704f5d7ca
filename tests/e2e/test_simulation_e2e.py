"""Scenarios through the real actor tree, in virtual time, checked on their outcomes and audit trail."""

import dataclasses
import json
from datetime import datetime, time
from pathlib import Path

import pytest

from config import load_settings
from domain.audit import ActionKind
from domain.session import EASTERN
from domain.settlement import Outcome
from simulation import runner
from simulation.scenario import Fault, ScenarioError, load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "simulation" / "scenarios"


def simulate(tmp_path_factory, name, metrics=None, **overrides):
    data_dir = tmp_path_factory.mktemp(name.replace(".json", ""))
    scenario = load_scenario(SCENARIOS / name)
    settings = load_settings(flags={"data_dir": str(data_dir), "simulation_dir": str(data_dir / "simulations"),
                                    **overrides}, environ={}).settings
    settings = runner.simulation_settings(settings, scenario, overrides.get("mode"))
    return runner.run_simulation(scenario, settings, metrics=metrics)


def outcome(result, key):
    return next(r for r in result.results if r.position.contract.key == key)


def actions(result, kind, key=None):
    found = [a for a in result.actions if a.action is kind]
    if key:
        found = [a for a in found if f"{a.strike:g}{a.right}" == key]
    return found


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    return simulate(tmp_path_factory, "default.json")


def test_itm_long_call_is_sold_for_its_value_from_t2(default_run):
    """A long is never sold for fear of exercise (one left unsold would be lapsed): from T-2, in the money."""
    result = outcome(default_run, "SPY 20261125 638C")
    assert result.outcome is Outcome.CLOSED and result.counterfactual is Outcome.EXERCISED
    (fill,) = actions(default_run, ActionKind.FILL, "638C")
    assert time(15, 58) <= fill.at.astimezone(EASTERN).time() < time(16, 0) and fill.stage == "T-2"
    (close,) = actions(default_run, ActionKind.CLOSE, "638C")
    assert "worth selling" in close.reason


def test_near_the_money_short_put_is_closed_at_t2(default_run):
    result = outcome(default_run, "SPY 20261125 641P")
    assert result.outcome is Outcome.CLOSED and result.counterfactual is Outcome.ASSIGNED
    (close,) = actions(default_run, ActionKind.CLOSE, "641P")
    assert close.stage == "T-2" and close.at.astimezone(EASTERN).time() >= time(15, 58)


def test_no_closing_order_ever_exceeds_the_position(default_run):
    held = {f"{r.position.contract.strike:g}{r.position.contract.right.value}": abs(r.position.quantity)
            for r in default_run.results}
    closes = actions(default_run, ActionKind.CLOSE)
    assert closes
    for close in closes:
        assert 0 < close.quantity <= held[f"{close.strike:g}{close.right}"]
    assert default_run.kpis.exercised_contracts == 0


def test_every_action_is_stored_once_with_a_unique_id(default_run):
    ids = [a.action_id for a in default_run.actions]
    assert len(ids) == len(set(ids)) and len(ids) > 5


def test_monitor_mode_trades_nothing_and_shows_the_exercise(tmp_path_factory):
    result = simulate(tmp_path_factory, "default.json", mode="monitor")
    assert result.orders_sent == 0 and not actions(result, ActionKind.CLOSE)
    assert outcome(result, "SPY 20261125 638C").outcome is Outcome.EXERCISED
    assert outcome(result, "SPY 20261125 641P").outcome is Outcome.ASSIGNED
    assert result.kpis.exercised_contracts >= 5
    assert any(a.reason.startswith("would close") for a in actions(result, ActionKind.WARN))


def test_stops_become_market_orders_at_t2_and_an_opening_stop_is_cancelled(tmp_path_factory):
    result = simulate(tmp_path_factory, "stop_orders.json")
    converted = actions(result, ActionKind.CONVERT_STOP)
    assert sorted(f"{a.strike:g}{a.right}" for a in converted) == ["634P", "646C"]
    assert all(a.stage == "T-2" and a.at.astimezone(EASTERN).time() >= time(15, 58) for a in converted)
    assert [f"{a.strike:g}{a.right}" for a in actions(result, ActionKind.CANCEL)] == ["630P"]
    assert all(r.outcome is Outcome.CLOSED for r in result.results)
    assert result.orders_sent == 0  # the stops themselves did the closing


def test_six_rejects_across_contracts_trip_the_breaker_and_no_seventh_order_is_sent(tmp_path_factory):
    result = simulate(tmp_path_factory, "breaker_trip.json")
    assert result.orders_sent == 6
    assert len(actions(result, ActionKind.REJECT)) == 6
    assert len(actions(result, ActionKind.BREAKER)) == 1
    assert any("trading halted" in (a.error or "") for a in actions(result, ActionKind.CLOSE))


def test_a_crashed_executor_is_restarted_and_nothing_is_sent_twice(tmp_path_factory):
    result = simulate(tmp_path_factory, "actor_crash.json")
    assert result.restarts["executor"] == 2 and not result.escalated
    assert result.kpis.exercised_contracts == 0
    assert result.orders_sent == len(result.results) == 2  # one order per position, no duplicates
    assert all(r.outcome is Outcome.CLOSED for r in result.results)


def test_on_the_early_close_every_close_happens_before_one_pm(tmp_path_factory):
    result = simulate(tmp_path_factory, "early_close_day.json")
    trades = actions(result, ActionKind.CLOSE) + actions(result, ActionKind.FILL)
    assert trades and all(a.at.astimezone(EASTERN).time() < time(13, 0) for a in trades)
    assert result.kpis.exercised_contracts == 0


def test_emergency_mode_closes_every_expiring_position_at_once(tmp_path_factory):
    result = simulate(tmp_path_factory, "emergency_mode.json")
    assert outcome(result, "SPY 20261125 635C").outcome is Outcome.CLOSED
    assert outcome(result, "SPY 20261125 630P").outcome is Outcome.CLOSED
    assert outcome(result, "SPY 20261127 650C").outcome is Outcome.OPEN  # expires Friday: left alone
    assert all(a.at.astimezone(EASTERN).time() < time(15, 21) for a in actions(result, ActionKind.CLOSE))


def test_repeated_crashes_escalate_halt_trading_and_exit_non_zero(tmp_path_factory, tmp_path):
    scenario = json.loads((SCENARIOS / "actor_crash.json").read_text())
    scenario["faults"] = [{"at": f"15:54:0{i}", "kind": "crash_actor", "actor": "risk_assessor"} for i in range(5)]
    scenario["config"] = {"restart_max": 3}
    path = tmp_path / "storm.json"
    path.write_text(json.dumps(scenario))
    settings = load_settings(flags={"data_dir": str(tmp_path / "data"),
                                    "simulation_dir": str(tmp_path / "simulations")}, environ={}).settings
    loaded = load_scenario(path)
    result = runner.run_simulation(loaded, runner.simulation_settings(settings, loaded, None))
    assert result.escalated and result.exit_code == 70
    assert result.orders_sent == 0  # halted at 15:54, before T-5


def test_runs_are_deterministic(tmp_path_factory):
    first = simulate(tmp_path_factory, "itm_long_call.json")
    second = simulate(tmp_path_factory, "itm_long_call.json")
    shape = [(a.at, a.action, a.strike, a.quantity, a.execution_price) for a in first.actions]
    assert shape == [(a.at, a.action, a.strike, a.quantity, a.execution_price) for a in second.actions]


def test_a_bad_scenario_is_one_clear_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"date": "2026-11-25", "spot": {"start": "high"}}))
    with pytest.raises(ScenarioError, match=r"spot.start must be a number"):
        load_scenario(path)


def test_a_position_on_an_underlying_the_market_cannot_price_is_refused_in_one_line(tmp_path):
    path = tmp_path / "qqq.json"
    path.write_text(json.dumps({"name": "qqq", "date": "2026-11-25", "spot": {"start": 641.0},
                                "positions": [{"symbol": "SPY", "right": "C", "strike": 638, "quantity": 1},
                                              {"symbol": "QQQ", "right": "C", "strike": 510, "quantity": 1}]}))
    settings = load_settings(flags={"data_dir": str(tmp_path)}, environ={}).settings
    with pytest.raises(ScenarioError, match=r"^scenario qqq: positions\[1\] is on QQQ, which the simulated market "
                                            r"has no price script for \(it quotes SPY\)$"):
        runner.run_simulation(load_scenario(path), settings)


# --- the broker as IB is: lagging reads, the trader's orders, a contract it will not trade (issue 15) ------
def test_position_reads_lagging_fills_never_bring_a_second_close(tmp_path_factory):
    result = simulate(tmp_path_factory, "lagging_positions.json")
    assert result.orders_sent == 1 and [r.outcome for r in result.results] == [Outcome.CLOSED]
    assert [a.quantity for a in actions(result, ActionKind.FILL)] == [3]


def test_the_traders_orders_are_cancelled_named_or_left_as_the_broker_allows(tmp_path_factory):
    result = simulate(tmp_path_factory, "blocking_orders.json")
    blocking = [a for a in result.alerts if a.severity.value == "critical" and "638C" in a.body and "TWS" in a.body]
    assert blocking and blocking[0].title and "ib_client_id" in blocking[0].body
    call, put = outcome(result, "SPY 20261125 638C"), outcome(result, "SPY 20261125 645P")
    assert call.closed_quantity == 2 and call.outcome is Outcome.LAPSED  # the covered half: never over-closed,
    (lapse,) = actions(result, ActionKind.LAPSE, "638C")  # lapsed once the TWS order expired with the close
    assert lapse.quantity == 2 and result.kpis.exercised_contracts == 0
    assert put.outcome is Outcome.CLOSED
    cancelled = {f"{a.strike:g}{a.right}": a.stage for a in actions(result, ActionKind.CANCEL)}
    assert cancelled == {"645P": "T-5", "648C": "T-2"}


def test_one_contract_the_broker_refuses_is_given_up_and_the_others_close(tmp_path_factory):
    result = simulate(tmp_path_factory, "unclosable_contract.json")
    assert outcome(result, "SPY 20261125 638C").outcome is Outcome.LAPSED  # not sold, not exercised either
    (lapse,) = actions(result, ActionKind.LAPSE, "638C")
    assert lapse.success and lapse.quantity == 2 and lapse.stage == "CLOSED"
    assert result.kpis.exercised_contracts == 0 and result.kpis.exercise_prevention_rate == 1.0
    assert outcome(result, "SPY 20261125 645P").outcome is Outcome.CLOSED
    assert outcome(result, "SPY 20261125 636C").outcome is Outcome.CLOSED
    assert len(actions(result, ActionKind.REJECT, "638C")) == 3 and not actions(result, ActionKind.BREAKER)
    assert any(a.title == "Giving up on SPY 20261125 638C: close it by hand" for a in result.alerts)


def test_the_595_600_call_spread_is_closed_whole_leaving_no_stock_and_no_naked_leg(tmp_path_factory):
    result = simulate(tmp_path_factory, "debit_call_spread.json")
    long_leg, short_leg = outcome(result, "SPY 20261125 595C"), outcome(result, "SPY 20261125 600C")
    assert long_leg.outcome is Outcome.CLOSED and short_leg.outcome is Outcome.CLOSED
    assert short_leg.counterfactual is Outcome.ASSIGNED  # the after-hours move: the naked short the old order left
    assert result.kpis.exercised_contracts == 0 and result.kpis.shares_delivered == 0
    fills = {f"{a.strike:g}{a.right}": a for a in actions(result, ActionKind.FILL)}
    assert fills["595C"].at == fills["600C"].at  # one combo order, filled whole
    closes = actions(result, ActionKind.CLOSE)
    assert {a.details.get("combo") for a in closes} == {"vertical SPY 20261125 +5 595C / -5 600C"}
    assert result.orders_sent == 1


def test_when_combos_are_refused_the_short_leg_is_bought_back_before_the_long_is_sold(tmp_path_factory):
    result = simulate(tmp_path_factory, "spread_combo_refused.json")
    assert outcome(result, "SPY 20261125 595C").outcome is Outcome.CLOSED
    assert outcome(result, "SPY 20261125 600C").outcome is Outcome.CLOSED
    (short_fill,) = actions(result, ActionKind.FILL, "600C")
    sells = [a for a in actions(result, ActionKind.CLOSE, "595C") if a.success]
    assert sells and all(a.at >= short_fill.at for a in sells)
    assert any("refused the combo" in a.reason for a in actions(result, ActionKind.CLOSE))


def test_a_spread_settling_deep_in_the_money_is_left_alone_and_delivers_no_shares(tmp_path_factory):
    result = simulate(tmp_path_factory, "settled_spread.json")
    assert outcome(result, "SPY 20261125 625C").outcome is Outcome.EXERCISED
    assert outcome(result, "SPY 20261125 630C").outcome is Outcome.ASSIGNED
    assert result.orders_sent == 0 and result.kpis.shares_delivered == 0
    assert any("left alone" in a.reason for a in actions(result, ActionKind.WARN))
    (bell,) = [a for a in result.alerts if "open at the close" in a.title]
    assert "- vertical SPY 20261125 +3 625C / -3 630C: delivers +0 shares net" in bell.body.splitlines()


def test_on_the_seeds_rules_the_595_600_spread_is_closed_whole_at_t5_where_the_long_alone_used_to_be_sold(
        tmp_path_factory):
    result = simulate(tmp_path_factory, "debit_call_spread.json", lapse_longs=False, long_min_bid=0.0,
                      short_assignment_probability=1.0, leave_settled_spreads=False)
    fills = {f"{a.strike:g}{a.right}": a for a in actions(result, ActionKind.FILL)}
    assert fills["595C"].stage == "T-5" and fills["595C"].at == fills["600C"].at
    assert result.kpis.exercised_contracts == 0 and result.kpis.shares_delivered == 0


DEEP_CALL, RICH_CALL = "SPY 20270115 600C", "SPY 20270115 680C"


@pytest.fixture(scope="module")
def ex_dividend_run(tmp_path_factory):
    return simulate(tmp_path_factory, "ex_dividend_eve.json")


def test_before_the_ex_date_a_short_call_worth_less_than_the_dividend_is_warned_at_t30_and_closed_at_t5(
        ex_dividend_run):
    result = outcome(ex_dividend_run, DEEP_CALL)
    assert result.outcome is Outcome.CLOSED and result.counterfactual is Outcome.ASSIGNED  # a holder exercises it
    (warn,) = actions(ex_dividend_run, ActionKind.WARN, "600C")
    assert warn.stage == "T-30" and "ex-dividend" in warn.reason and "2026-12-18" in warn.reason
    (close,) = actions(ex_dividend_run, ActionKind.CLOSE, "600C")
    assert close.stage == "T-5" and close.quantity == 2 and "ex-dividend" in close.reason
    (alert,) = [a for a in ex_dividend_run.alerts if a.title.startswith("Ex-dividend")]
    assert "SPY 20270115 600C qty -2" in alert.body and "will be closed from T-5" in alert.body
    assert RICH_CALL not in alert.body


def test_before_the_ex_date_a_short_call_worth_more_than_the_dividend_is_untouched(ex_dividend_run):
    result = outcome(ex_dividend_run, RICH_CALL)
    assert result.outcome is Outcome.OPEN and result.counterfactual is Outcome.OPEN
    assert not [a for a in ex_dividend_run.actions if a.strike == 680.0]
    assert ex_dividend_run.orders_sent == 1


def test_in_monitor_mode_the_call_at_risk_is_warned_of_and_left_to_be_assigned(tmp_path_factory):
    result = simulate(tmp_path_factory, "ex_dividend_eve.json", mode="monitor")
    assert result.orders_sent == 0 and outcome(result, DEEP_CALL).outcome is Outcome.ASSIGNED
    assert outcome(result, RICH_CALL).outcome is Outcome.OPEN
    (alert,) = [a for a in result.alerts if a.title.startswith("Ex-dividend")]
    assert "Monitor mode: not closed" in alert.body
    assert any(a.reason.startswith("would close 2 SPY 20270115 600C") for a in actions(result, ActionKind.WARN))


def test_on_the_seeds_rules_the_guard_is_off_and_the_call_is_only_warned_of(tmp_path_factory):
    result = simulate(tmp_path_factory, "ex_dividend_eve.json", ex_dividend_guard=False)
    assert result.orders_sent == 0 and outcome(result, DEEP_CALL).outcome is Outcome.ASSIGNED
    assert any("ex_dividend_guard is off" in a.reason for a in actions(result, ActionKind.WARN, "600C"))
def test_a_short_left_open_and_crossed_after_hours_is_reported_updated_once_and_flagged_at_17_29(tmp_path_factory):
    """The after-bell watch through the tree: the first report, one update at the crossing, the final flag."""
    result = simulate(tmp_path_factory, "after_hours_cross.json")
    assert result.orders_sent == 0  # 0.8 % out of the money at T-2: the policy left the spread open
    assert outcome(result, "SPY 20261125 636P").outcome is Outcome.ASSIGNED
    watch = [a for a in result.alerts if a.key.startswith(("open-at-bell:", "after-bell-"))]
    first, update, final = watch
    assert first.key == "open-at-bell:2026-11-25"
    assert any(line.startswith("- SPY 20261125 636P qty -3 (short): SPY 640.") and "after hours 640." in line
               and line.endswith("expires worthless likely") for line in first.body.splitlines()), first.body
    assert "- vertical SPY 20261125 +3 630P / -3 636P: delivers +0 shares net" in first.body.splitlines()
    assert update.key == "after-bell-crossing:2026-11-25:1" and update.severity.value == "critical"
    assert "SPY 20261125 636P into the money (SPY 635.9" in update.body
    assert final.key == "after-bell-final:2026-11-25" and final.severity.value == "critical"
    assert final.title == "17:30 ET: expect assignment of 1 short position(s)"
    flagged = [line for line in final.body.splitlines() if line.endswith("EXPECT ASSIGNMENT")]
    assert len(flagged) == 1 and "636P qty -3 (short)" in flagged[0]
    assert "delivers +300 shares net" in final.body and "SPY +300 shares" in final.body
    records = {a.reason.split(":")[0]: a for a in actions(result, ActionKind.WARN)
               if a.reason.startswith("after the bell")}
    crossing, last = records["after the bell, crossing report"], records["after the bell, final report"]
    assert time(17, 5) <= crossing.at.astimezone(EASTERN).time() < time(17, 20)
    assert last.at.astimezone(EASTERN).time() == time(17, 29) and last.success is False
    assert result.kpis.shares_delivered == 300  # settlement as before: the after-hours move assigns the 636P


def test_a_risk_assessor_crashing_after_hours_neither_repeats_nor_loses_a_watch_report(tmp_path_factory):
    """Crashes between the first report and the crossing, and between the crossing and the final report."""
    scenario = load_scenario(SCENARIOS / "after_hours_cross.json")
    crashes = tuple(Fault(datetime.combine(scenario.day, at, tzinfo=EASTERN), "crash_actor", actor="risk_assessor")
                    for at in (time(16, 30), time(17, 20)))
    data_dir = tmp_path_factory.mktemp("after_hours_crash")
    settings = load_settings(flags={"data_dir": str(data_dir), "simulation_dir": str(data_dir / "simulations")},
                             environ={}).settings
    scenario = dataclasses.replace(scenario, faults=crashes)
    result = runner.run_simulation(scenario, runner.simulation_settings(settings, scenario, None))
    assert result.restarts["risk_assessor"] == 2 and not result.escalated
    watch = [a.key for a in result.alerts if a.key.startswith(("open-at-bell:", "after-bell-"))]
    assert watch == ["open-at-bell:2026-11-25", "after-bell-crossing:2026-11-25:1", "after-bell-final:2026-11-25"]


def test_with_after_bell_updates_off_only_the_first_and_final_reports_go(tmp_path_factory):
    result = simulate(tmp_path_factory, "after_hours_cross.json", after_bell_updates=False)
    watch = [a.key for a in result.alerts if a.key.startswith(("open-at-bell:", "after-bell-"))]
    assert watch == ["open-at-bell:2026-11-25", "after-bell-final:2026-11-25"]
