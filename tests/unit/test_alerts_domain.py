"""Alert wording and the throttle: pure, with explicit instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from domain import alerts
from domain.alerts import Alert, AtRiskPosition, SessionSummary, Severity, Throttle

T0 = datetime(2026, 11, 27, 17, 30, tzinfo=UTC)


def alert(key: str = "k", body: str = "body") -> Alert:
    return Alert(Severity.WARNING, "title", body, key)


def test_identical_key_within_window_is_suppressed_and_counted():
    throttle = Throttle(300)
    assert throttle.decide(alert(), T0) == alert()
    assert throttle.decide(alert(body="newer numbers"), T0 + timedelta(seconds=10)) is None
    assert throttle.decide(alert(), T0 + timedelta(seconds=299)) is None
    assert throttle.suppressed_total == 2
    assert throttle.pending_suppressed() == {"k": 2}


def test_after_the_window_the_alert_goes_out_and_says_how_many_were_held():
    throttle = Throttle(300)
    throttle.decide(alert(), T0)
    throttle.decide(alert(), T0 + timedelta(seconds=1))
    again = throttle.decide(alert(), T0 + timedelta(seconds=300))
    assert again is not None
    assert again.body == "body\n(1 identical repeat suppressed since 17:30:00)"
    assert throttle.pending_suppressed() == {}


def test_different_keys_do_not_throttle_each_other():
    throttle = Throttle(300)
    assert throttle.decide(alert("a"), T0) is not None
    assert throttle.decide(alert("b"), T0) is not None


def test_zero_window_never_suppresses():
    throttle = Throttle(0)
    assert all(throttle.decide(alert(), T0) is not None for _ in range(3))


def test_take_suppressed_reports_once():
    throttle = Throttle(60)
    throttle.decide(alert(), T0)
    throttle.decide(alert(), T0)
    assert throttle.take_suppressed() == {"k": 1}
    assert throttle.take_suppressed() == {}


def test_old_keys_are_forgotten_so_memory_stays_bounded():
    throttle = Throttle(60)
    for i in range(100):
        throttle.decide(alert(f"k{i}"), T0 + timedelta(seconds=i * 61))
    assert len(throttle._last_sent) <= 2


def test_at_risk_warning_lists_positions_most_in_the_money_first():
    made = alerts.at_risk_warning(date(2026, 11, 27), 29.6, [
        AtRiskPosition("SPY 20261127 650C", 1, -0.015),
        AtRiskPosition("SPY 20261127 635C", 3, 0.008, 0.91),
    ])
    assert made.severity is Severity.WARNING
    assert made.body.splitlines() == [
        "2 expiring position(s) at risk, 30 min to the close:",
        "- SPY 20261127 635C qty +3: moneyness +0.80%, P(ITM) 91%",
        "- SPY 20261127 650C qty +1: moneyness -1.50%",
    ]
    # Same positions, new numbers: same key, so a re-poll does not re-alert.
    assert made.key == alerts.at_risk_warning(date(2026, 11, 27), 28, [
        AtRiskPosition("SPY 20261127 635C", 3, 0.01), AtRiskPosition("SPY 20261127 650C", 1, -0.01)]).key


@pytest.mark.parametrize(("made", "severity", "words"), [
    (alerts.close_filled("SPY 20261127 635C", 3, "SELL", 5.21, "ocm-1", -0.02), Severity.INFO, "filled at 5.21"),
    (alerts.close_failed("SPY 20261127 635C", 3, "SELL", "rejected", 4), Severity.CRITICAL, "still open"),
    (alerts.stop_converted("SPY 20261127 635C", "77", 3), Severity.WARNING, "market order"),
    (alerts.breaker_tripped(6, 60, "timeout"), Severity.CRITICAL, "6 order failures within 60 s"),
    (alerts.kill_switch(True, "telegram 42"), Severity.CRITICAL, "engaged by telegram 42"),
    (alerts.kill_switch(False, "socket bob"), Severity.WARNING, "resumed by socket bob"),
    (alerts.mode_changed("emergency", "telegram 42"), Severity.CRITICAL, "switched to emergency"),
    (alerts.supervisor_escalation("Executor", 4, 60, "boom"), Severity.CRITICAL, "crashed 4 times"),
    (alerts.outage("ThetaData", "timeout", fallback="IB quotes"), Severity.WARNING, "continuing on IB quotes"),
    (alerts.outage("IB Gateway", "socket closed"), Severity.CRITICAL, "Decisions wait"),
    (alerts.outage("IB Gateway", "reconnected", restored=True), Severity.INFO, "is back"),
])
def test_render_helpers(made, severity, words):
    assert made.severity is severity
    assert words in made.body
    assert made.title and made.key


def test_close_failures_of_one_contract_share_a_key_across_attempts():
    first = alerts.close_failed("SPY 20261127 635C", 3, "SELL", "rejected", 1)
    assert first.key == alerts.close_failed("SPY 20261127 635C", 3, "SELL", "rejected", 2).key


def test_session_summary_is_a_warning_when_anything_is_left_at_risk():
    clean = alerts.session_summary(SessionSummary(date(2026, 11, 27), closed=["SPY 20261127 635C"]))
    assert clean.severity is Severity.INFO
    left = alerts.session_summary(SessionSummary(date(2026, 11, 27), closed=["A"], failed=["B"],
                                                 remaining_at_risk=["B"], suppressed={"k": 3}))
    assert left.severity is Severity.WARNING
    assert "1 closed, 1 failed, 1 still at risk" in left.body
    assert "3 repeated alert(s) were suppressed" in left.body


def test_severity_parse():
    assert Severity.parse(" Critical ") is Severity.CRITICAL
    with pytest.raises(ValueError, match="info, warning or critical"):
        Severity.parse("loud")


def test_a_cash_settled_contract_is_said_not_watched_and_why():
    sent = alerts.not_watched("SPXW 20261127 5800C", -2)
    assert sent.severity is Severity.WARNING and sent.key == "not-watched:SPXW 20261127 5800C"
    assert "qty -2" in sent.body and "settle in cash" in sent.body and "not even in emergency mode" in sent.body


def test_an_opening_order_we_may_not_cancel_says_so_and_what_to_do():
    order = alerts.BlockingOrder("SPY 20261127 640P", "BUY", 1, "MIT", "", "API client 23", "12", "perm 77", 0, 0)
    sent = alerts.blocking_order(order)
    assert sent.severity is Severity.CRITICAL and sent.title == "Order cannot be cancelled: SPY 20261127 640P"
    assert sent.body.startswith("MIT BUY 1 SPY 20261127 640P, placed by API client 23, order id 12 (perm 77)")
    assert "would open a position" in sent.body and "ib_client_id = 0" in sent.body
    assert sent.key == "blocking-order:perm 77"


def test_an_underlying_never_quoted_is_said_and_monitor_mode_says_nothing_is_traded():
    sent = alerts.stale_underlying("IWM", None, None, None, [], ["IWM 20261127 220P"], 0.01, trading=False)
    assert sent.severity is Severity.CRITICAL and sent.key == "stale-price:IWM:never"
    assert sent.body.startswith("No IWM price at all") and "Monitor mode: nothing is traded." in sent.body
    assert 'ctl close "IWM 20261127 220P"' in sent.body


def test_each_stale_spell_has_its_own_key_so_the_throttle_cannot_swallow_a_second_one():
    first = alerts.stale_underlying("SPY", 641.0, T0, 60, ["A"], [], 0.01, trading=True)
    later = alerts.stale_underlying("SPY", 640.0, T0 + timedelta(minutes=2), 60, ["A"], [], 0.01, trading=True)
    assert first.key != later.key
    assert "641.00 at 12:30:00 ET, is stale for 60 s" in first.body and "(beyond +1.00%): A." in first.body
