"""Smoke run of the KPI benchmark (N=20): the table has every policy and column, and a seed fixes the run.

The benchmark itself (N=1000, latency) is not part of the test suite: see bench/README.md.
"""

from __future__ import annotations

import json

import pytest

from bench.engine import DayRun
from bench.generator import GeneratorConfig, generate_days
from bench.kpi import main
from bench.market import DayMarket
from bench.policies import default_policies
from bench.report import COLUMNS, build, markdown_table
from bench.runner import benchmark_settings, run_benchmark
from domain.model import OptionContract, Position, Right
from domain.policy import Close
from domain.settlement import Outcome

N = 20
SEED = 11


@pytest.fixture(scope="module")
def first_run():
    return run_benchmark(N, SEED)


def test_table_has_every_policy_row_and_every_column(first_run):
    kpis, data = build(first_run)
    caption, _, *table = markdown_table(kpis, N, SEED).splitlines()
    assert caption == f"N={N} days, seed {SEED}:"
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert header == list(COLUMNS)
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
    assert [row[0] for row in rows] == [policy.name for policy in default_policies()]
    assert all(len(row) == len(COLUMNS) and all(row) for row in rows)
    assert {p["policy"] for p in data["policies"]} == {policy.name for policy in default_policies()}


def test_simulation_is_deterministic_for_a_seed(first_run):
    again = run_benchmark(N, SEED)
    assert build(again)[0] == build(first_run)[0]
    for name, runs in first_run.runs.items():
        assert [(r.position, r.outcome, r.closed, r.fills) for r in runs] == \
            [(r.position, r.outcome, r.closed, r.fills) for r in again.runs[name]]
    assert again.days == first_run.days


def test_sanity_of_the_baselines(first_run):
    kpis = {k.policy: k for k in build(first_run)[0]}
    assert kpis["do nothing"].closed_positions == 0
    assert kpis["broker at T-180"].closed_positions == kpis["broker at T-180"].positions
    assert kpis["do nothing"].contracts_exercised_or_assigned > 0


def test_command_line_writes_table_and_json(tmp_path):
    assert main(["--n", "3", "--seed", "5", "--out", str(tmp_path), "--no-plots", "--no-big-day"]) == 0
    data = json.loads((tmp_path / "kpi.json").read_text())
    assert data["n_days"] == 3 and len(data["policies"]) == len(default_policies())
    assert (tmp_path / "kpi.md").read_text().count("| system (seed) |") == 2  # the headline table, the legs' table


def test_plots_are_written(first_run, tmp_path):
    pytest.importorskip("matplotlib")
    from bench.plots import write_all

    paths = write_all(first_run, build(first_run)[0], tmp_path)
    assert [p.name for p in paths] == ["kpi_frontier.png", "kpi_slippage.png", "kpi_moneyness.png"]
    assert all(p.stat().st_size > 1000 for p in paths)


def test_long_and_short_split_the_counts(first_run):
    for k in build(first_run)[0]:
        assert k.long.at_risk_positions + k.short.at_risk_positions == k.at_risk_positions
        assert k.long.prevented + k.short.prevented == k.prevented
        assert k.long.false_positives + k.short.false_positives == k.false_positives
        assert k.false_positive_cost_dollars == pytest.approx(
            k.long.false_positive_cost_dollars + k.short.false_positive_cost_dollars)


def test_false_positives_cost_at_least_their_commission(first_run):
    kpis = {k.policy: k for k in build(first_run)[0]}
    runs = first_run.runs["broker at T-180"]
    wasted = [r for r in runs if r.closed and r.counterfactual is Outcome.EXPIRED_OTM]
    assert wasted and kpis["broker at T-180"].false_positive_cost_dollars >= 0.65 * sum(r.closed for r in wasted)


def test_no_policy_closes_a_position_through_zero(first_run):
    """Reads lag fills and the trader's orders fill unannounced: sized from the book, no close overshoots."""
    _, data = build(first_run)
    assert data["days"]["trader_orders"] > 0 and data["days"]["stale_quotes"] > 0
    assert all(p["over_closes"] == 0 for p in data["policies"])


def test_the_itm_baseline_rechecks_every_second_until_the_close():
    day = generate_days(1, SEED)[0]
    later = min(range(1, 300), key=lambda s: -day.spot(s))  # SPY's high after T-5
    assert day.spot(later) > day.spot(300), "the seed's day must rise after T-5 for this test"
    strike = (day.spot(300) + day.spot(later)) / 2  # a call out of the money at T-5, in the money later
    call = Position(OptionContract("SPY", Right.CALL, strike, day.session.day), 1)
    baseline = next(p for p in default_policies() if p.name == "ITM at T-5")
    decider = baseline.for_day(day, DayMarket(day), benchmark_settings())
    assert decider.decide(300, [call], []) == []
    closes = decider.decide(later, [call], [])
    assert [type(c) for c in closes] == [Close] and closes[0].quantity == 1


def test_offsetting_trader_fills_behind_a_lagging_read_do_not_flip_a_position():
    """Day 60 of the reporting seed: a trader's buy limit and his stop on the same put both filled, the read
    showing only the buy; the cautious rule closed 6 of 3 until the book stopped netting unseen fills."""
    config = GeneratorConfig(close_vol_multiplier=1.25, jump_probability=0.10, jump_window_seconds=2100,
                             news_probability=0.05, near_money_share=0.5, near_money_sd=0.0025)  # that run's
    day = generate_days(61, 20261127, config)[60]
    cautious = next(p for p in default_policies() if p.name == "within 1% at T-30")
    run = DayRun(day, DayMarket(day), cautious, benchmark_settings(), config)
    run.run()
    assert run.broker.over_closes == 0
