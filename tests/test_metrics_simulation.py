"""Metric values after a scripted scenario through the real tree agree with its audit trail and summary."""

from __future__ import annotations

import pytest

from domain.audit import ActionKind
from runtime.metrics import Metrics
from tests.test_metrics_api import value
from tests.test_simulation_e2e import simulate


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    metrics = Metrics(process_collectors=False)
    return simulate(tmp_path_factory, "default.json", metrics=metrics), metrics


def test_fills_and_slippage_histogram_match_the_audited_fills(run):
    result, metrics = run
    fills = [a for a in result.actions if a.action is ActionKind.FILL]
    with_mid = [a.slippage for a in fills if a.slippage is not None]
    assert fills and with_mid
    assert value(metrics, "cleanup_orders_filled_total") == len(fills)
    assert value(metrics, "cleanup_slippage_dollars_count") == len(with_mid)
    assert value(metrics, "cleanup_slippage_dollars_sum") == pytest.approx(sum(with_mid))


def test_prevention_and_false_positive_rates_match_the_summary(run):
    result, metrics = run
    closed = value(metrics, "cleanup_at_risk_positions_closed_total")
    left = value(metrics, "cleanup_positions_left_itm_at_close_total")
    false_positives = value(metrics, "cleanup_false_positives_total")
    assert closed == result.kpis.prevented_positions and closed > 0
    assert closed / (closed + left) == pytest.approx(result.kpis.exercise_prevention_rate)
    assert false_positives / result.kpis.closed_positions == pytest.approx(result.kpis.false_positive_rate)
