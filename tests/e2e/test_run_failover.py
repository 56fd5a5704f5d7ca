"""ThetaData failover through the whole tree: the fake Theta Terminal and the fake IB Gateway together.

The tree is wired as `cleanup-manager run` wires it (``runtime.ib_wiring.price_source``): ThetaData through
the real HTTP client, IB market data through the real ib_async client as the fallback, and orders
through IB. The virtual clock drives both fakes' timestamps.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.feed_health import FALLBACK, PRIMARY
from runtime.clock import VirtualClock
from runtime.ib_wiring import price_source
from tests.fakes.ib_gateway import FakeContract, FakePosition, GatewayScript, OrderBehaviour, QuoteStep
from tests.fakes.theta_terminal import FakeThetaTerminal
from tests.support.ib_tree import CALL, CLOSE, Alerts, audited_fills, placed, run_tree

T_MINUS_6 = CLOSE - timedelta(minutes=6)
T_MINUS_5 = CLOSE - timedelta(minutes=5)
RECOVERY = CLOSE - timedelta(minutes=4)
SPY = 641.0  # the 638 call is in the money
TIMEOUT = 0.5  # thetadata_timeout_seconds
FAILBACK_POLLS = 5


@dataclass
class Timeline:
    """What the test saw after each virtual second."""

    sources: list[tuple[datetime, str]] = field(default_factory=list)
    first_order_at: datetime | None = None
    slowest_tick: float = 0.0  # wall seconds between two decisions
    last_tick_at: float = field(default_factory=time.monotonic)
    spy_requests_at_fault: int = 0
    spy_requests_while_faulty: int = 0

    def source_at(self, when: datetime) -> str:
        return next(source for now, source in self.sources if now >= when)

    def first(self, source: str, after: datetime) -> datetime:
        return next(now for now, seen in self.sources if now >= after and seen == source)


def run_with_fault(tmp_path, fault: str) -> tuple[Timeline, Alerts]:
    """From T-6 minus 10 s: ``fault`` hits the Terminal at T-6 and is cleared at T-4."""
    clock = VirtualClock(T_MINUS_6 - timedelta(seconds=10))
    ib_quotes = [QuoteStep(0, "SPY", SPY - 0.01, SPY + 0.01, SPY), QuoteStep(0, CALL, 2.98, 3.04, 3.0, 0.15)]
    script = GatewayScript(positions=[FakePosition(FakeContract.option(CALL), 2, 180.0)], price_path=ib_quotes,
                           default_behaviour=OrderBehaviour.fill())
    timeline, alerts = Timeline(), Alerts()
    with FakeThetaTerminal(clock=clock.now, spy=SPY) as terminal:
        def watch(gateway, service) -> bool:
            now, tick_done, status = clock.now(), time.monotonic(), service.status()
            timeline.slowest_tick = max(timeline.slowest_tick, tick_done - timeline.last_tick_at)
            timeline.last_tick_at = tick_done
            timeline.sources.append((now, status["price_source"]))
            if timeline.first_order_at is None and placed(gateway):
                timeline.first_order_at = now
            if T_MINUS_6 < now <= RECOVERY:
                timeline.spy_requests_while_faulty = terminal.count("stock_quote") - timeline.spy_requests_at_fault
            if now == T_MINUS_6:
                timeline.spy_requests_at_fault = terminal.count("stock_quote")
                {"outage": terminal.outage, "frozen": terminal.freeze, "hang": terminal.hang}[fault]()
            if now == RECOVERY:
                terminal.recover() if fault == "outage" else terminal.heal()
            return status["price_source"] == PRIMARY and now > RECOVERY and status["positions"] == 0

        run_tree(tmp_path, script, start=clock.now(), seconds=300, clock=clock, until=watch, alerts=alerts,
                 pause=0.05, prices=price_source, price_source="thetadata", thetadata_url=terminal.url_v2,
                 thetadata_timeout_seconds=TIMEOUT, feed_failback_polls=FAILBACK_POLLS)
    return timeline, alerts


def assert_closed_at_t5_on_ib_prices(tmp_path, timeline: Timeline) -> None:
    assert timeline.first_order_at is not None, "the in-the-money call was never sold"
    assert T_MINUS_5 <= timeline.first_order_at <= T_MINUS_5 + timedelta(seconds=2)
    assert timeline.source_at(timeline.first_order_at) == FALLBACK
    # Quantity 0 is the separate commission record of the same fill.
    assert [(fill.strike, fill.quantity) for fill in audited_fills(tmp_path)] == [(638.0, 2)]


def feed_alerts(alerts: Alerts) -> list[str]:
    return [alert.title for alert in alerts.sent if "feed" in alert.title]


def test_terminal_down_at_t6_fails_over_to_ib_closes_at_t5_and_comes_back(tmp_path):
    timeline, alerts = run_with_fault(tmp_path, "outage")
    assert timeline.source_at(T_MINUS_6 - timedelta(seconds=1)) == PRIMARY
    switched = timeline.first(FALLBACK, after=T_MINUS_6)
    assert (switched - T_MINUS_6).total_seconds() <= 3
    assert_closed_at_t5_on_ib_prices(tmp_path, timeline)
    back = timeline.first(PRIMARY, after=RECOVERY)
    assert (back - RECOVERY).total_seconds() <= FAILBACK_POLLS + 1
    # Once down, once back: not once a second, and no false "IB down" while IB's first ticks arrive.
    assert feed_alerts(alerts) == ["ThetaData price feed down: using IB prices", "ThetaData price feed restored"]


def test_a_frozen_thetadata_price_is_stale_and_fails_over_the_same_way(tmp_path):
    timeline, alerts = run_with_fault(tmp_path, "frozen")
    switched = timeline.first(FALLBACK, after=T_MINUS_6)
    assert (switched - T_MINUS_6).total_seconds() <= 5.0 + 1  # quote_max_age_seconds, then the next poll
    assert_closed_at_t5_on_ib_prices(tmp_path, timeline)
    assert timeline.first(PRIMARY, after=RECOVERY)
    assert feed_alerts(alerts) == ["ThetaData price feed down: using IB prices", "ThetaData price feed restored"]


def test_a_hanging_terminal_never_delays_a_decision_beyond_the_timeout(tmp_path):
    timeline, _ = run_with_fault(tmp_path, "hang")
    assert timeline.first(FALLBACK, after=T_MINUS_6) <= T_MINUS_6 + timedelta(seconds=1)
    assert_closed_at_t5_on_ib_prices(tmp_path, timeline)
    # A tick is the ThetaData poll (at most the timeout), the IB read, the decision and the test's pause.
    print(f"\nslowest tick while the Terminal hung: {timeline.slowest_tick:.2f} s (timeout {TIMEOUT} s)")
    assert timeline.slowest_tick <= TIMEOUT + 1.0
    hung_seconds = (RECOVERY - T_MINUS_6).total_seconds()
    assert timeline.spy_requests_while_faulty <= hung_seconds + 1  # one poll a second, no retry storm


def test_a_thetadata_price_that_disagrees_with_ib_is_alerted_once_and_logged_with_both(tmp_path, caplog):
    clock = VirtualClock(T_MINUS_6 - timedelta(seconds=10))
    ib_quotes = [QuoteStep(0, "SPY", SPY - 0.01, SPY + 0.01, SPY), QuoteStep(0, CALL, 2.98, 3.04, 3.0, 0.15)]
    script = GatewayScript(positions=[FakePosition(FakeContract.option(CALL), 2, 180.0)], price_path=ib_quotes,
                           default_behaviour=OrderBehaviour.fill())
    alerts = Alerts()
    with FakeThetaTerminal(clock=clock.now, spy=SPY + 3.0) as terminal, caplog.at_level(logging.INFO, "cleanup.feed"):
        run_tree(tmp_path, script, start=clock.now(), seconds=15, clock=clock, alerts=alerts, pause=0.05,
                 prices=price_source, price_source="thetadata", thetadata_url=terminal.url_v2,
                 thetadata_timeout_seconds=TIMEOUT, feed_crosscheck_tolerance=0.002)
    assert feed_alerts(alerts) == ["Price feed: crosscheck disagreement"]
    [line] = [record.getMessage() for record in caplog.records if "crosscheck" in record.getMessage()]
    assert "ThetaData 644.00" in line and "IB 641.00" in line and "tolerance 0.200%" in line


def test_inside_t5_a_frozen_thetadata_price_still_fails_over_and_the_t2_close_goes_out_on_ibs(tmp_path):
    """The switch does not depend on the stage: frozen at T-3, the near-the-money short put is bought
    back at T-2 on IB's price (T-2 and T-5 decisions alike are made on a fresh quote)."""
    put = "SPY 20261125 639P"  # -0.31 % at 641: closed at T-2 only
    frozen_at, t_minus_2 = CLOSE - timedelta(minutes=3), CLOSE - timedelta(minutes=2)
    clock = VirtualClock(frozen_at - timedelta(seconds=5))
    ib_quotes = [QuoteStep(0, "SPY", SPY - 0.01, SPY + 0.01, SPY), QuoteStep(0, put, 0.40, 0.44, 0.42, 0.15)]
    script = GatewayScript(positions=[FakePosition(FakeContract.option(put), -2, 50.0)], price_path=ib_quotes,
                           default_behaviour=OrderBehaviour.fill())
    timeline = Timeline()
    with FakeThetaTerminal(clock=clock.now, spy=SPY) as terminal:
        def watch(gateway, service) -> bool:
            now = clock.now()
            timeline.sources.append((now, service.status()["price_source"]))
            if now == frozen_at:
                terminal.freeze()
            if timeline.first_order_at is None and placed(gateway):
                timeline.first_order_at = now
            return timeline.first_order_at is not None

        run_tree(tmp_path, script, start=clock.now(), seconds=90, clock=clock, until=watch, pause=0.05,
                 prices=price_source, price_source="thetadata", thetadata_url=terminal.url_v2,
                 thetadata_timeout_seconds=TIMEOUT, feed_failback_polls=FAILBACK_POLLS)
    assert timeline.first(FALLBACK, after=frozen_at) <= frozen_at + timedelta(seconds=6)
    assert timeline.first_order_at is not None
    assert t_minus_2 <= timeline.first_order_at <= t_minus_2 + timedelta(seconds=2)
    assert timeline.source_at(timeline.first_order_at) == FALLBACK
