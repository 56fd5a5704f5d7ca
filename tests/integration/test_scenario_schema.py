"""Scenario files are checked whole before anything starts: every fault is one line naming the file
and the field, `simulate` exits 2, never a traceback."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from simulation.scenario import ScenarioError, load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "simulation" / "scenarios"
BASE = json.loads((SCENARIOS / "default.json").read_text())


def changed(edit):
    raw = copy.deepcopy(BASE)
    edit(raw)
    return raw


def write(tmp_path, raw) -> Path:
    path = tmp_path / "scenario.json"
    path.write_text(raw if isinstance(raw, str) else json.dumps(raw))
    return path


def refusal(tmp_path, raw) -> str:
    path = write(tmp_path, raw)
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    text = str(raised.value)
    assert text.startswith(f"scenario {path}: ") and "\n" not in text
    return text.removeprefix(f"scenario {path}: ")


def test_every_shipped_scenario_is_valid():
    for path in sorted(SCENARIOS.glob("*.json")):
        assert load_scenario(path).name


BAD = {
    "unknown order type": (lambda r: r["orders"][0].update(type="TRAIL"),
                           "orders[0].type must be 'STP' or 'LMT', got 'TRAIL'"),
    "order without its price": (lambda r: r["orders"][0].pop("stop"), "a STP order needs a stop price ('stop')"),
    "short spot.path entry": (lambda r: r["spot"]["path"].insert(1, ["15:30"]),
                              'spot.path[1] must be ["HH:MM", price], e.g. ["15:45", 641.2]'),
    "spot.path time as a number": (lambda r: r["spot"]["path"].insert(1, [1530, 640.0]), "spot.path[1] must be"),
    "spot.path out of order": (lambda r: r["spot"]["path"].append(["15:10", 640.0]),
                               "spot.path times must increase from one entry to the next"),
    "positions as text": (lambda r: r.update(positions="none"), "positions must be a list [...], got 'none'"),
    "negative strike": (lambda r: r["positions"][1].update(strike=-641), "positions[1].strike must be greater than 0, "
                                                                         "got -641"),
    "zero strike": (lambda r: r["positions"][1].update(strike=0), "positions[1].strike must be greater than 0"),
    "infinite strike": (lambda r: r["positions"][1].update(strike=1e400), "positions[1].strike must be a finite"),
    "unknown fault actor": (lambda r: r.update(faults=[{"at": "15:55", "kind": "crash_actor", "actor": "exectuor"}]),
                            "faults[0].actor must be one of assignment_desk, audit_logger, circuit_breaker, executor, "
                            "lapse_desk, notifier, position_poller, price_feed, risk_assessor"),
    "unknown fault kind": (lambda r: r.update(faults=[{"at": "15:55", "kind": "meteor"}]),
                           "faults[0].kind must be one of 'crash_actor', 'reject_orders', 'feed_outage', "
                           "'broker_disconnect', 'no_fills', 'refuse_contract', got 'meteor'"),
    "unknown placed_by": (lambda r: r.update(orders=[{**r["orders"][0], "placed_by": "martians"}]),
                          "orders[0].placed_by must be 'trader', 'tws' or 'another_program'"),
    "negative broker lag": (lambda r: r.update(broker={"position_lag_seconds": -1}),
                            "broker.position_lag_seconds must be greater than or equal to 0"),
    "negative count": (lambda r: r.update(faults=[{"at": "15:55", "kind": "reject_orders", "count": -3}]),
                       "faults[0].count must be greater than or equal to 1, got -3"),
    "negative seconds": (lambda r: r.update(faults=[{"at": "15:55", "kind": "feed_outage", "seconds": -30}]),
                         "faults[0].seconds must be greater than 0, got -30"),
    "field of another kind": (lambda r: r.update(faults=[{"at": "15:55", "kind": "feed_outage", "seconds": 5,
                                                          "count": 2}]),
                              "faults[0].count is not a field here"),
    "fault time": (lambda r: r.update(faults=[{"at": "3pm", "kind": "no_fills", "seconds": 5}]),
                   "faults[0].at must be an ET time like '15:55' or '15:55:30', got '3pm'"),
    "fractional quantity": (lambda r: r["positions"][0].update(quantity=2.5), "positions[0].quantity must be a whole "
                                                                             "number, got 2.5"),
    "zero quantity": (lambda r: r["positions"][0].update(quantity=0), "positions[0].quantity must not be 0"),
    "quantity as text": (lambda r: r["positions"][0].update(quantity="2"), "positions[0].quantity must be a whole"),
    "fractional order quantity": (lambda r: r["orders"][0].update(quantity=1.5), "orders[0].quantity must be a whole"),
    "duplicate contract": (lambda r: r["positions"].append(dict(r["positions"][0], quantity=1)),
                           "positions[5] repeats SPY 20261125 638C of positions[0]; one entry per contract"),
    "bad right": (lambda r: r["positions"][0].update(right="X"),
                  "positions[0].right must be C, P, CALL or PUT, got 'X'"),
    "unknown field": (lambda r: r.update(speed=3), "speed is not a field here; see simulation/README.md"),
    "unknown position field": (lambda r: r["positions"][0].update(qty=3), "positions[0].qty is not a field here"),
    "missing spot": (lambda r: r.pop("spot"), "spot is required"),
    "missing strike": (lambda r: r["positions"][0].pop("strike"), "positions[0].strike is required"),
    "bad mode": (lambda r: r.update(mode="yolo"), "mode must be 'monitor', 'active' or 'emergency', got 'yolo'"),
    "bad date": (lambda r: r.update(date="25/11/2026"), "date must be a date like '2026-11-25'"),
    "nan volatility": (lambda r: r["spot"].update(vol=float("nan")), "spot.vol must be a finite number"),
    "bad config key": (lambda r: r.update(config={"restart_maxx": 3}),
                       "config.restart_maxx=3: unknown setting; see `cleanup-manager check-config` for the keys"),
    "bad config value": (lambda r: r.update(config={"t2_moneyness": 0.5}),
                         "config.t2_moneyness=0.5: must be a fraction in (0, 0.2], e.g. 0.01 for 1%"),
    "nan config value": (lambda r: r.update(config={"quote_max_age_seconds": float("nan")}),
                         "config.quote_max_age_seconds=nan: must be a number of seconds in (0, 60]"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_scenario_is_refused_in_one_line_naming_the_field(tmp_path, case):
    edit, says = BAD[case]
    assert says in refusal(tmp_path, changed(edit))


def test_not_json_not_an_object_and_not_utf8(tmp_path):
    assert refusal(tmp_path, "{bad").startswith("not valid JSON: ")
    assert refusal(tmp_path, "[1, 2]") == "must be one JSON object; see simulation/README.md"
    path = tmp_path / "latin1.json"
    path.write_bytes(json.dumps(BASE).replace("Built-in", "Caf\u00e9").encode("latin-1"))
    with pytest.raises(ScenarioError, match=r"not UTF-8 text \(at byte offset \d+: invalid continuation byte\)"):
        load_scenario(path)


def test_defaults_fill_in_and_the_day_override_moves_expiries(tmp_path):
    raw = {"date": "2026-11-25", "spot": {"start": 640},
           "positions": [{"right": "call", "strike": 640, "quantity": -1}],
           "orders": [{"right": "C", "strike": 640, "action": "buy", "type": "lmt", "quantity": 1, "limit": 1.5}]}
    loaded = load_scenario(write(tmp_path, raw), day_override=date(2026, 11, 27))
    assert [p.contract.key for p in loaded.initial_positions()] == ["SPY 20261127 640C"]
    [order] = loaded.initial_orders()
    assert (order.side.value, order.order_type.value, order.limit_price) == ("BUY", "LMT", 1.5)
    assert loaded.spot_script().vol == 0.12 and loaded.fault_schedule() == [] and loaded.mode is None


def test_simulate_exits_2_with_one_line_for_a_bad_scenario(tmp_path):
    """Today a negative strike ran into a crash and exit 70."""
    path = write(tmp_path, changed(lambda r: r["positions"][1].update(strike=-641)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEANUP_")}
    env.update({"CLEANUP_DATA_DIR": str(tmp_path / "data"), "CLEANUP_METRICS_PORT": "0"})
    result = subprocess.run([sys.executable, "-m", "cli.main", "simulate", "--quiet", "--scenario", str(path)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"scenario {path}: positions[1].strike must be greater than 0, got -641"]
