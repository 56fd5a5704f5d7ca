"""Smoke run of the KPI benchmark (N=20): the table has every policy and column, and a seed fixes the run.

The benchmark itself (N=1000, latency) is not part of the test suite: see bench/README.md.
"""

from __future__ import annotations

import json

import pytest

from bench.kpi import main
from bench.policies import default_policies
from bench.report import COLUMNS, build, markdown_table
from bench.runner import run_benchmark

N = 20
SEED = 11


@pytest.fixture(scope="module")
def first_run():
    return run_benchmark(N, SEED)


def test_table_has_every_policy_row_and_every_column(first_run):
    kpis, data = build(first_run)
    table = markdown_table(kpis).splitlines()
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
    assert main(["--n", "3", "--seed", "5", "--out", str(tmp_path), "--no-plots"]) == 0
    data = json.loads((tmp_path / "kpi.json").read_text())
    assert data["n_days"] == 3 and len(data["policies"]) == len(default_policies())
    assert (tmp_path / "kpi.md").read_text().count("| system (seed) |") == 1


def test_plots_are_written(first_run, tmp_path):
    pytest.importorskip("matplotlib")
    from bench.plots import write_all

    paths = write_all(first_run, build(first_run)[0], tmp_path)
    assert [p.name for p in paths] == ["kpi_frontier.png", "kpi_slippage.png", "kpi_moneyness.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
