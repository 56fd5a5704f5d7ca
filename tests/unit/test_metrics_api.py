"""Values of the Metrics API after scripted calls, read back from its own registry."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from domain.mode import Mode
from domain.model import OptionContract, Right
from domain.policy import Assessment, StageAction
from domain.risk import RiskLevel
from domain.settlement import SessionCounts
from domain.stages import Stage
from gateways.metrics import RISK_LEVELS, SLIPPAGE_BUCKETS, Metrics
from runtime.clock import VirtualClock


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(process_collectors=False)


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_registries_are_independent() -> None:
    first, second = Metrics(), Metrics()
    first.order_submitted()
    assert value(first, "cleanup_orders_submitted_total") == 1
    assert value(second, "cleanup_orders_submitted_total") == 0


def test_process_collectors_are_in_the_service_registry() -> None:
    assert value(Metrics(), "process_start_time_seconds") is not None
    assert value(Metrics(process_collectors=False), "process_start_time_seconds") is None


def test_up_and_uptime(metrics: Metrics) -> None:
    assert value(metrics, "cleanup_up") == 0
    metrics.set_up()
    assert value(metrics, "cleanup_up") == 1
    assert value(metrics, "cleanup_uptime_seconds") >= 0
    assert value(metrics, "cleanup_start_time_seconds") > 1.6e9
    metrics.set_up(False)
    assert value(metrics, "cleanup_up") == 0


def test_restarts_and_escalations(metrics: Metrics) -> None:
    metrics.register_actor("executor")
    assert value(metrics, "cleanup_actor_restarts_total", actor="executor") == 0
    metrics.actor_restarted("executor")
    metrics.actor_restarted("executor")
    metrics.actor_restarted("price_feed")
    assert value(metrics, "cleanup_actor_restarts_total", actor="executor") == 2
    assert value(metrics, "cleanup_actor_restarts_total", actor="price_feed") == 1
    metrics.supervisor_escalated()
    assert value(metrics, "cleanup_supervisor_escalations_total") == 1


def test_mode_stage_and_source_are_one_hot(metrics: Metrics) -> None:
    metrics.set_mode(Mode.ACTIVE)
    assert [value(metrics, "cleanup_mode", mode=m.value) for m in Mode] == [0, 1, 0]
    metrics.set_mode("emergency")
    assert value(metrics, "cleanup_mode", mode="emergency") == 1
    assert value(metrics, "cleanup_mode", mode="active") == 0

    metrics.set_time_to_close(120.0, Stage.T2)
    assert value(metrics, "cleanup_time_to_close_seconds") == 120
    assert {s.value: value(metrics, "cleanup_stage", stage=s.value) for s in Stage} == {
        "NORMAL": 0, "T-30": 0, "T-5": 0, "T-2": 1, "CLOSED": 0}

    metrics.set_price_source("thetadata")
    metrics.set_price_source("ib")
    assert value(metrics, "cleanup_price_source", source="ib") == 1
    assert value(metrics, "cleanup_price_source", source="thetadata") == 0
    metrics.set_price_source(None)
    assert value(metrics, "cleanup_price_source", source="ib") == 0


@pytest.mark.parametrize("call", [
    lambda m: m.set_mode("yolo"),
    lambda m: m.set_time_to_close(1.0, "T-99"),
    lambda m: m.set_price_source("bloomberg"),
    lambda m: m.record_positions("T-99", [], []),
])
def test_unbounded_label_values_are_refused(metrics: Metrics, call) -> None:
    with pytest.raises(ValueError, match="unknown"):
        call(metrics)


def test_switches_and_gauges(metrics: Metrics) -> None:
    metrics.set_kill_switch(True)
    metrics.set_breaker_open(True)
    metrics.set_audit_backlog(42)
    assert value(metrics, "cleanup_kill_switch_engaged") == 1
    assert value(metrics, "cleanup_circuit_breaker_open") == 1
    assert value(metrics, "cleanup_audit_backlog") == 42
    metrics.set_kill_switch(False)
    metrics.set_breaker_open(False)
    assert value(metrics, "cleanup_kill_switch_engaged") == 0
    assert value(metrics, "cleanup_circuit_breaker_open") == 0


def test_quote_age_is_measured_at_scrape_time_on_the_services_clock(metrics: Metrics) -> None:
    clock = VirtualClock(datetime(2026, 11, 25, 20, 30, tzinfo=UTC))
    assert value(metrics, "cleanup_quote_age_seconds") == 0  # not started: no session to be stale
    metrics.use_clock(clock)
    clock.advance(12)
    assert value(metrics, "cleanup_quote_age_seconds") == 12  # no quote yet: the age since the start
    metrics.quote_received(clock.now() - timedelta(seconds=1))
    assert value(metrics, "cleanup_quote_age_seconds") == 1
    clock.advance(20)  # nobody reports any more (a dead or stopped feed): the age keeps growing
    assert value(metrics, "cleanup_quote_age_seconds") == 21
    metrics.quote_received(clock.now() - timedelta(seconds=30))  # older than the latest: ignored
    assert value(metrics, "cleanup_quote_age_seconds") == 21


def _assessment(key: str, moneyness: float, level: RiskLevel, stage: Stage = Stage.T5) -> Assessment:
    contract = OptionContract.parse_key(key)
    return Assessment(contract=contract, quantity=1, spot=635.0, moneyness=moneyness, risk_score=0.5,
                      probability_itm=0.6, level=level, stage=stage, action=StageAction.WATCH,
                      minutes_to_close=4.0, option_mid=1.0, implied_vol=0.15)


def _counts(metrics: Metrics) -> dict[tuple[str, str], float]:
    """The non-zero cleanup_positions series."""
    found = {}
    for stage in Stage:
        for risk in RISK_LEVELS:
            n = value(metrics, "cleanup_positions", stage=stage.value, risk=risk)
            if n:
                found[stage.value, risk] = n
    return found


CALL, PUT, FAR = "SPY 20261127 635C", "SPY 20261127 630P", "SPY 20261127 660C"


def test_record_positions_counts_every_open_position_by_stage_and_risk(metrics: Metrics) -> None:
    metrics.record_positions(Stage.T5, [CALL, PUT, FAR], [
        _assessment(CALL, 0.002, RiskLevel.HIGH), _assessment(PUT, -0.008, RiskLevel.LOW)])
    # FAR was never assessed (say it appeared during a feed outage): open, risk unknown.
    assert _counts(metrics) == {("T-5", "HIGH"): 1, ("T-5", "LOW"): 1, ("T-5", "UNKNOWN"): 1}
    assert value(metrics, "cleanup_position_moneyness_ratio", contract=CALL) == 0.002
    assert value(metrics, "cleanup_position_itm_probability_ratio", contract=PUT) == 0.6
    assert value(metrics, "cleanup_position_moneyness_ratio", contract=FAR) is None
    metrics.record_positions(Stage.T2, [CALL, PUT, FAR], [_assessment(FAR, -0.03, RiskLevel.LOW, Stage.T2)])
    assert _counts(metrics) == {("T-2", "HIGH"): 1, ("T-2", "LOW"): 2}  # the old stage's counts are zeroed


def test_a_pass_without_assessments_keeps_the_last_values(metrics: Metrics) -> None:
    metrics.record_positions(Stage.T5, [CALL, PUT], [
        _assessment(CALL, 0.002, RiskLevel.HIGH), _assessment(PUT, -0.008, RiskLevel.LOW)])
    metrics.record_positions(Stage.T5, [CALL, PUT], [])  # stale spot: nothing assessed
    assert _counts(metrics) == {("T-5", "HIGH"): 1, ("T-5", "LOW"): 1}
    assert value(metrics, "cleanup_position_moneyness_ratio", contract=CALL) == 0.002


def test_series_of_a_position_no_longer_open_are_deleted(metrics: Metrics) -> None:
    metrics.record_positions(Stage.T5, [CALL, PUT], [
        _assessment(CALL, 0.002, RiskLevel.HIGH), _assessment(PUT, -0.008, RiskLevel.LOW)])
    metrics.record_positions(Stage.T5, [PUT], [])  # CALL closed while the spot is stale
    assert value(metrics, "cleanup_position_moneyness_ratio", contract=CALL) is None
    assert value(metrics, "cleanup_position_itm_probability_ratio", contract=CALL) is None
    assert value(metrics, "cleanup_position_moneyness_ratio", contract=PUT) == -0.008
    assert _counts(metrics) == {("T-5", "LOW"): 1}
    metrics.record_positions(Stage.T5, [CALL], [])  # back again, but its old values are gone
    assert _counts(metrics) == {("T-5", "UNKNOWN"): 1}
    assert OptionContract("SPY", Right.CALL, 635, date(2026, 11, 27)).key == CALL


def test_orders_and_slippage_histograms(metrics: Metrics) -> None:
    fills = [(0.0, 1), (0.01, 2), (0.03, 1), (0.12, 1), (-0.02, 3)]
    for slip, contracts in fills:
        metrics.closing_attempt()
        metrics.order_submitted()
        metrics.order_filled(slip, contracts)
    metrics.order_filled()  # a fill without a reference mid adds no observation
    metrics.order_rejected()
    metrics.order_cancelled()
    assert value(metrics, "cleanup_orders_submitted_total") == 5
    assert value(metrics, "cleanup_orders_filled_total") == 6
    assert value(metrics, "cleanup_orders_rejected_total") == 1
    assert value(metrics, "cleanup_orders_cancelled_total") == 1
    assert value(metrics, "cleanup_closing_attempts_total") == 5
    # One observation per contract; adverse slippage and price improvement apart, both >= 0.
    assert value(metrics, "cleanup_slippage_dollars_count") == 5
    assert value(metrics, "cleanup_slippage_dollars_sum") == pytest.approx(0.0 + 0.02 + 0.03 + 0.12)
    assert value(metrics, "cleanup_slippage_dollars_bucket", le="0.0") == 1  # at the mid
    assert value(metrics, "cleanup_slippage_dollars_bucket", le="0.1") == 4
    assert value(metrics, "cleanup_price_improvement_dollars_count") == 3
    assert value(metrics, "cleanup_price_improvement_dollars_sum") == pytest.approx(0.06)
    assert value(metrics, "cleanup_price_improvement_dollars_bucket", le="0.02") == 3
    assert SLIPPAGE_BUCKETS[1] == 0.01  # cent resolution at the bottom


def test_settlement_adds_to_the_kpi_counters(metrics: Metrics) -> None:
    metrics.record_settlement(SessionCounts(prevented=3, left_in_the_money=1, false_positives=1, closed=4))
    metrics.record_settlement(SessionCounts(prevented=1, left_in_the_money=0, false_positives=0, closed=1))
    closed = value(metrics, "cleanup_at_risk_positions_closed_total")
    left = value(metrics, "cleanup_positions_left_itm_at_close_total")
    assert (closed, left) == (4, 1)
    assert closed / (closed + left) == 0.8  # the prevention rate the KPI dashboard shows
    assert value(metrics, "cleanup_false_positives_total") == 1
    # The false-positive rate's denominator is every position closed, not only the at-risk ones.
    assert value(metrics, "cleanup_positions_closed_total") == 5


def test_ib_messages_follow_the_brokers_running_count(metrics: Metrics) -> None:
    metrics.ib_messages_sent(10)
    metrics.ib_messages_sent(25)
    metrics.ib_messages_sent(25)
    assert value(metrics, "cleanup_ib_messages_sent_total") == 25
    metrics.ib_messages_sent(4)  # the broker reconnected and restarted its count
    assert value(metrics, "cleanup_ib_messages_sent_total") == 29


def test_metrics_use_a_private_registry() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, process_collectors=False)
    assert metrics.registry is registry
    assert registry.get_sample_value("cleanup_up") == 0
