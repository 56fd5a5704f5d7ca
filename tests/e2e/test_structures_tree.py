"""Through the actor tree on the paper broker: a multi-leg structure in the status (its legs, its net
delivery, its plan) and in the audit trail, one record each time its plan changes, never per tick."""

from __future__ import annotations

from datetime import timedelta

from domain.audit import ActionKind
from domain.commands import format_status
from domain.mode import Mode
from domain.model import OptionContract, Position
from gateways.sim_market import SimulatedMarket, SpotScript
from tests.support.ib_tree import CLOSE, SESSION, audited
from tests.support.paper_tree import run_paper

LONG, SHORT = OptionContract.parse_key("SPY 20261125 595C"), OptionContract.parse_key("SPY 20261125 600C")
SPREAD = [Position(LONG, 5), Position(SHORT, -5)]  # a 595/600 debit call spread
NAME = "vertical SPY 20261125 +5 595C / -5 600C"
PROFILE = "below 595: +0; 595-600: +500; above 600: +0"
T_MINUS_5 = CLOSE - timedelta(minutes=5)


def structure_records(tmp_path):
    return [a for a in audited(tmp_path) if a.action is ActionKind.WARN and "structure" in a.details]


def test_the_status_shows_the_spread_with_both_legs_and_the_audit_hears_of_its_combo_once(tmp_path):
    seen: list[dict] = []
    # 598, between the strikes: quiet until T-2, then (the side-aware defaults) every leg closes, as one combo,
    # which works some seconds on the paper broker (the plan judged again each second) before it fills whole.
    run_paper(tmp_path, SPREAD, start=CLOSE - timedelta(minutes=2, seconds=30), seconds=60, prices={"SPY": 598.0},
              watch=lambda service: seen.append(service.status()))
    combo = [s for s in seen if s["structures"] and s["structures"][0]["plan"]["combo"]]
    assert len(combo) > 5 and not seen[-1]["structures"]  # judged as a combo on several ticks, then closed
    last = combo[-1]
    (item,) = last["structures"]
    assert item["name"] == NAME and item["kind"] == "vertical"
    assert item["legs"] == [{"contract": LONG.key, "quantity": 5, "short": False},
                            {"contract": SHORT.key, "quantity": -5, "short": True}]
    assert item["profile_text"] == PROFILE and item["delivery_at_spot"] == 500
    assert item["low"] < 598 < item["high"] and (item["fewest"], item["most"]) == (500, 500)
    assert item["plan"]["label"] == "close as combo"
    text = format_status(last)
    assert f"multi-leg structures: 1\n  {NAME}\n    legs: +5 {LONG.key} (long), -5 {SHORT.key} (short)\n" \
           f"    delivery: {PROFILE}\n    now: +500 shares at " in text
    assert "plan: close as combo: every leg at risk: closed as one combo order" in text
    quiet = [s for s in seen if s["stage"] == "T-5"]
    assert quiet and all(s["structures"][0]["plan"]["reason"] == "no leg at risk" for s in quiet)

    (record,) = structure_records(tmp_path)  # the quiet plan before T-2 is not recorded, the combo once
    assert record.stage == "T-2" and record.symbol == "SPY" and record.expiry == SESSION.day
    assert record.reason.startswith(f"structure close as combo: {NAME}: delivery {PROFILE}, ")
    assert record.reason.endswith("every leg at risk: closed as one combo order")
    assert record.details["structure"]["plan"]["close"] == [LONG.key, SHORT.key]


def test_each_change_of_plan_is_audited_once_a_left_alone_spread_with_its_reason(tmp_path):
    # Deep in the money at 610 (left alone: no net delivery anywhere it can reach), down to 600.10 (the short in
    # the money, the reach across 600: bought back first) and back. Monitor mode: nothing is traded, so the
    # spread is judged on every tick of the three spells.
    path = ((T_MINUS_5, 610.0), (T_MINUS_5 + timedelta(seconds=20), 610.0),
            (T_MINUS_5 + timedelta(seconds=30), 600.1), (T_MINUS_5 + timedelta(seconds=50), 600.1),
            (T_MINUS_5 + timedelta(seconds=60), 610.0), (T_MINUS_5 + timedelta(seconds=90), 610.0))

    def scripted(sim: SimulatedMarket) -> SimulatedMarket:
        return SimulatedMarket(SpotScript(610.0, vol=0.01, seed=0, path=path), SESSION, sim.clock, sim.clock.now())

    seen: list[dict] = []
    run_paper(tmp_path, SPREAD, start=T_MINUS_5 - timedelta(seconds=30), seconds=120, mode=Mode.MONITOR,
              prices={"SPY": 610.0}, source=scripted, watch=lambda service: seen.append(service.status()))
    plans = [s["structures"][0]["plan"]["label"] for s in seen if s["structures"]]
    changes = [plan for index, plan in enumerate(plans) if index == 0 or plan != plans[index - 1]]
    assert changes == ["watch", "left alone", "short legs first, longs held", "left alone"]
    assert len(plans) > 100  # judged on every tick

    records = structure_records(tmp_path)
    assert [r.details["structure"]["plan"]["label"] for r in records] == changes[1:]
    left_alone = records[0]
    assert left_alone.stage == "T-5" and left_alone.reason.startswith(f"structure left alone: {NAME}: ")
    assert "delivers +0 to +0 shares; left alone: every leg in the money, and it settles with no net delivery" \
           in left_alone.reason
    assert "short leg at risk: bought back first, its long partners kept" in records[1].reason
    assert records[1].details["structure"]["plan"]["close"] == [SHORT.key]
    assert records[1].details["structure"]["plan"]["held"] == [LONG.key]
