"""The client and the feed-health machine together, against the fake Terminal on a virtual clock.

A stand-in for the PriceFeed's poll loop (the actor is wired elsewhere): each virtual second it
polls ThetaData through the real client over HTTP and an IB quote, and feeds both to the machine.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain.alerts import Severity
from domain.feed_errors import FeedError
from domain.feed_health import FALLBACK, PRIMARY, EventKind, FeedHealth, FeedHealthConfig, Reason
from domain.model import Quote
from domain.session import EASTERN
from gateways.failover_prices import FailoverPriceSource
from gateways.thetadata import ThetaDataPriceSource, connect
from runtime.clock import VirtualClock
from runtime.ib_wiring import feed_alert
from tests.fakes.theta_terminal import FakeThetaTerminal

T_MINUS_6 = datetime(2026, 11, 27, 12, 54, tzinfo=EASTERN)  # the close is 13:00 ET that day
CONFIG = FeedHealthConfig(mode="thetadata", max_age_seconds=5.0, failback_polls=5, crosscheck_tolerance=0.002)


class IBQuotes:
    """The fallback source: IB's SPY quote, always fresh."""

    name = FALLBACK

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock

    def underlying_quote(self, symbol: str) -> Quote:
        return Quote(symbol, 635.99, 636.01, None, self.clock.now(), FALLBACK)

    def option_quotes(self, contracts):
        return {}


class Loop:
    """The PriceFeed's poll, once a virtual second, through the production FailoverPriceSource."""

    def __init__(self, terminal: FakeThetaTerminal, clock: VirtualClock, version: str) -> None:
        url = terminal.url_v2 if version == "v2" else terminal.url_v3
        self.terminal, self.clock = terminal, clock
        self.health = FeedHealth(CONFIG, clock.now())
        self.events: list = []
        self.theta = ThetaDataPriceSource(connect(url, timeout=0.3))
        self.source = FailoverPriceSource(self.theta, IBQuotes(clock), self.health, clock, self.events.append,
                                          lambda _now: True, symbol="SPY")

    def second(self) -> str:
        self.clock.advance(1.0)
        try:
            quote = self.source.underlying_quote("SPY")
            assert quote.source == self.health.active  # the quote used is the active source's
        except FeedError:
            pass
        return self.source.name


@pytest.fixture(params=["v2", "v3"])
def loop(request):
    clock = VirtualClock(T_MINUS_6 - timedelta(seconds=10))  # ten healthy polls end at T-6
    with FakeThetaTerminal(clock=clock.now, spy=636.0) as terminal:
        run = Loop(terminal, clock, request.param)
        for _ in range(10):
            assert run.second() == PRIMARY
        yield run


def test_terminal_down_at_t6_then_back(loop):
    assert loop.clock.now() == T_MINUS_6
    loop.terminal.outage()
    down_at = loop.clock.now()
    while loop.second() == PRIMARY:
        pass
    assert (loop.clock.now() - down_at).total_seconds() <= 3
    [switch] = [event for event in loop.events if event.kind is EventKind.SWITCHED_TO_FALLBACK]
    assert switch.reason == Reason.ERROR and "not reachable" in switch.detail
    for _ in range(10):
        assert loop.second() == FALLBACK  # keeps probing, stays on IB while down
    loop.terminal.recover()
    seconds = 0
    while loop.second() == FALLBACK:
        seconds += 1
    assert seconds == CONFIG.failback_polls - 1  # back on the 5th healthy poll
    assert loop.events[-1].kind is EventKind.SWITCHED_BACK


def test_a_frozen_price_is_detected_and_fails_over(loop):
    loop.terminal.freeze()
    frozen_at = loop.clock.now()
    while loop.second() == PRIMARY:
        pass
    assert (loop.clock.now() - frozen_at).total_seconds() <= CONFIG.max_age_seconds + 1
    assert loop.events[-1].reason in (Reason.FROZEN, Reason.STALE)
    loop.terminal.heal()
    for _ in range(CONFIG.failback_polls):
        loop.second()
    assert loop.health.active == PRIMARY


def test_a_474_period_fails_over_and_a_hang_too(loop):
    loop.terminal.fail(474)
    assert loop.second() == FALLBACK
    loop.terminal.heal()
    for _ in range(CONFIG.failback_polls):
        loop.second()
    assert loop.health.active == PRIMARY
    loop.terminal.hang("stock_quote")
    assert loop.second() == FALLBACK
    assert "did not answer" in loop.events[-1].detail


def test_a_price_disagreement_is_alerted_once(loop):
    loop.terminal.set_spy(640.0)  # IB still says 636
    for _ in range(5):
        loop.second()
    crosschecks = [event for event in loop.events if event.kind is EventKind.CROSSCHECK_DISAGREEMENT]
    assert len(crosschecks) == 1 and loop.health.active == PRIMARY


def test_a_permission_error_is_one_alert_naming_the_subscription_and_ib_prices(loop):
    loop.terminal.fail(471)
    for _ in range(10):
        assert loop.second() == FALLBACK
    [alert] = [feed_alert(event) for event in loop.events]
    assert alert.severity is Severity.CRITICAL and "using IB prices" in alert.title
    assert "needs: a ThetaData stocks subscription" in alert.body
