"""The KPI dashboard's mean slippage, evaluated by Prometheus' own PromQL engine (promtool), equals
the simulation summary's mean (domain.settlement.session_kpis) after fills of both signs.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from domain.model import OptionContract, Position
from domain.settlement import Outcome, PositionResult, session_kpis
from gateways.metrics import Metrics
from tests.support.metrics import panel_queries

# (contract, contracts filled, slippage per share; negative is price improvement). Binary-exact
# dollars, so Prometheus' float arithmetic and Python's agree to the last bit.
FILLS = [("SPY 20261125 638C", 2, 0.25), ("SPY 20261125 641P", 3, -0.125), ("SPY 20261125 642C", 1, 0.5),
         ("SPY 20261125 641P", 1, 0.0), ("SPY 20261125 630P", 1, 0.0)]
SERIES = ("cleanup_slippage_dollars_sum", "cleanup_slippage_dollars_count",
          "cleanup_price_improvement_dollars_sum", "cleanup_price_improvement_dollars_count")


def summary_mean() -> float:
    by_contract: dict[str, list[tuple[float, int]]] = {}
    for key, contracts, slippage in FILLS:
        by_contract.setdefault(key, []).append((slippage, contracts))
    results = []
    for key, fills in by_contract.items():
        quantity = sum(q for _, q in fills)
        results.append(PositionResult(Position(OptionContract.parse_key(key), quantity), Outcome.CLOSED,
                                      Outcome.EXERCISED, quantity, sum(s * q for s, q in fills) / quantity))
    mean = session_kpis(results).mean_slippage
    assert mean is not None
    return mean


def test_dashboard_mean_slippage_equals_the_summarys(tmp_path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: run scripts/test-services.sh")
    metrics = Metrics(process_collectors=False)
    for _, contracts, slippage in FILLS:
        metrics.order_filled(slippage, contracts)
    (expr,) = [e for board, title, e in panel_queries()
               if board == "kpi.json" and title == "Slippage per share" and "_sum" in e]
    # The scrape before the fills (all 0) and the one after: increase() over the window is the total.
    input_series = [{"series": f'{name}{{job="cleanup-manager", instance="a"}}',
                     "values": f"0 {metrics.registry.get_sample_value(name)}"} for name in SERIES]
    expected = summary_mean()
    assert 0 < expected < 0.25  # price improvement pulls the mean below the adverse fills' mean
    (tmp_path / "mean_test.yml").write_text(json.dumps({  # JSON is YAML
        "rule_files": [],
        "tests": [{"interval": "1m", "input_series": input_series,
                   "promql_expr_test": [{"expr": expr, "eval_time": "1m",
                                         "exp_samples": [{"labels": "{}", "value": expected}]}]}],
    }))
    run = subprocess.run([promtool, "test", "rules", "mean_test.yml"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
