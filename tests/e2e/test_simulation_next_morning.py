"""`simulate --through-next-open`: the whole cycle in one run through the tree and the paper broker: the bell, the
paper broker's overnight delivery, the next session's morning check (across a holiday), and its summary."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

from cli.main import main
from config import load_settings
from domain.audit import ActionKind
from domain.session import EASTERN
from simulation import runner
from simulation.scenario import load_scenario
from simulation.summary import summary_dict

SCENARIO = Path(__file__).resolve().parents[2] / "simulation" / "scenarios" / "assigned_overnight.json"


def simulate(tmp_path, **overrides):
    scenario = load_scenario(SCENARIO)
    settings = load_settings(flags={"data_dir": str(tmp_path), "simulation_dir": str(tmp_path / "simulations"),
                                    "metrics_port": 0, **overrides}, environ={}).settings
    settings = runner.simulation_settings(settings, scenario, None)
    return runner.run_simulation(scenario, settings, through_next_open=True)


def test_the_assigned_put_is_found_the_next_session_morning_without_the_traders_own_shares(tmp_path):
    result = simulate(tmp_path)
    morning = summary_dict(result, "Asia/Hong_Kong")["next_morning"]
    assert morning["date"] == "2026-11-27"  # Thanksgiving skipped
    assert morning["delivered"] == {"SPY": 200}
    assert 200 * 640 < morning["exposure"] < 200 * 642  # at SPY's closing price (the path ends at 641)
    assert morning["margin"] == morning["exposure"] * 0.5
    deliveries = [a for a in result.actions if a.action is ActionKind.DELIVERY]
    assert [(a.quantity, a.details["shares_before"], a.details["shares_now"]) for a in deliveries] == [(200, 100, 300)]
    [alert] = [a for a in result.alerts if a.key == "morning:2026-11-25"]
    assert "+200 shares (long)" in alert.body and "Sell or keep them yourself" in alert.body


def test_without_the_flag_there_is_no_morning(tmp_path):
    scenario = load_scenario(SCENARIO)
    settings = load_settings(flags={"data_dir": str(tmp_path), "simulation_dir": str(tmp_path / "simulations"),
                                    "metrics_port": 0}, environ={}).settings
    result = runner.run_simulation(scenario, runner.simulation_settings(settings, scenario, None))
    assert result.morning is None
    assert not [a for a in result.actions if a.action is ActionKind.MORNING_CHECK]


def test_the_cli_prints_the_next_morning(tmp_path, capsys):
    code = main(["simulate", "--quiet", "--through-next-open", "--scenario", str(SCENARIO),
                 "--set", f"data_dir={tmp_path}", "--set", f"simulation_dir={tmp_path / 'sims'}",
                 "--set", "metrics_port=0"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Next morning 2026-11-27" in " ".join(out.split()) and "delivered +200 SPY" in " ".join(out.split())


DISPOSED = SCENARIO.parent / "assigned_then_disposed.json"


def test_in_close_mode_the_delivered_shares_are_sold_at_the_open_and_the_traders_own_stay(tmp_path):
    scenario = load_scenario(DISPOSED)
    settings = load_settings(flags={"data_dir": str(tmp_path), "simulation_dir": str(tmp_path / "simulations"),
                                    "metrics_port": 0}, environ={}).settings
    result = runner.run_simulation(scenario, runner.simulation_settings(settings, scenario, None),
                                   through_next_open=True)
    morning = summary_dict(result, "Asia/Hong_Kong")["next_morning"]
    assert morning["delivered"] == {"SPY": 200}
    disposals = [a for a in result.actions if a.action is ActionKind.DISPOSAL]
    assert (disposals[-1].quantity, disposals[-1].success) == (-200, True)  # sold 200, never the trader's 100
    sent, filled = disposals[0], disposals[-1]
    assert sent.order_ref == filled.order_ref == "CLN-20261125-SPY-STK-DISPOSE"
    assert sent.details["held"] == 300  # 100 of the trader's own and the 200 delivered: only the 200 are sold
    assert sent.at.astimezone(EASTERN).time() == time(9, 30)  # at the open, not before
    assert filled.execution_price is not None and filled.execution_price > 630
    [alert] = [a for a in result.alerts if a.key == "disposal:SPY"]
    assert "SELL 200 SPY" in alert.body
    assert "flattened at the 09:30 ET open" in next(a.body for a in result.alerts if a.key == "morning:2026-11-25")
    assert [d["quantity"] for d in morning["disposals"]] == [-200, -200]  # sent, filled
    assert result.morning is not None


def test_a_friday_expiration_is_checked_and_disposed_on_monday_morning(tmp_path):
    scenario = load_scenario(DISPOSED, date(2026, 11, 20))  # a Friday: the next session is Monday the 23rd
    settings = load_settings(flags={"data_dir": str(tmp_path), "simulation_dir": str(tmp_path / "simulations"),
                                    "metrics_port": 0}, environ={}).settings
    result = runner.run_simulation(scenario, runner.simulation_settings(settings, scenario, None),
                                   through_next_open=True)
    morning = summary_dict(result, "Asia/Hong_Kong")["next_morning"]
    assert morning["date"] == "2026-11-23" and morning["delivered"] == {"SPY": 200}
    [filled] = [d for d in morning["disposals"] if d["success"]]
    assert filled["at_et"].startswith("2026-11-23T09:30") and filled["quantity"] == -200
