"""FailoverPriceSource over scripted sources on a virtual clock: which quotes a poll returns, and when."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

import pytest

from domain.feed_errors import FeedError, FeedErrorKind
from domain.feed_health import FALLBACK, PRIMARY, EventKind, FeedHealth, FeedHealthConfig, Reason
from domain.model import OptionContract, Quote, Right
from domain.session import EASTERN
from gateways.failover_prices import FailoverPriceSource
from gateways.prices import ReportingSource
from runtime.clock import VirtualClock

T0 = datetime(2026, 11, 27, 12, 50, tzinfo=EASTERN)
CONFIG = FeedHealthConfig(mode="thetadata", max_age_seconds=5.0, failback_polls=5, crosscheck_tolerance=0.002)
CALL = OptionContract("SPY", Right.CALL, 636.0, T0.date())
PUT = OptionContract("SPY", Right.PUT, 630.0, T0.date())


class Scripted:
    """A source whose next answers the test sets; ``delay`` virtual seconds pass during each call."""

    def __init__(self, name: str, clock: VirtualClock, mid: float = 636.0) -> None:
        self.name, self.clock, self.mid = name, clock, mid
        self.spy_error: FeedErrorKind | None = None
        self.options_error: FeedErrorKind | None = None
        self.lacks: set[str] = set()
        self.delay = 0.0
        self.calls: Counter[str] = Counter()
        self.frozen_at: datetime | None = None
        # other underlyings: their price, an error, or the exchange time they froze at
        self.others: dict[str, float] = {"QQQ": 512.0}
        self.other_errors: dict[str, FeedErrorKind] = {}
        self.others_frozen_at: dict[str, datetime] = {}

    def underlying_quote(self, symbol: str) -> Quote:
        if symbol != "SPY":
            return self._other(symbol)
        self.calls["spy"] += 1
        self.clock.advance(self.delay)
        if self.spy_error:
            raise FeedError(self.spy_error, f"{self.name} {self.spy_error.value}")
        return Quote(symbol, self.mid - 0.01, self.mid + 0.01, None, self.frozen_at or self.clock.now(), self.name)

    def _other(self, symbol: str) -> Quote:
        self.calls[symbol] += 1
        error = self.other_errors.get(symbol, self.spy_error)
        if error or symbol not in self.others:
            raise FeedError(error or FeedErrorKind.NO_DATA, f"{self.name} {symbol} {error}")
        price, at = self.others[symbol], self.others_frozen_at.get(symbol, self.clock.now())
        return Quote(symbol, price - 0.01, price + 0.01, None, at, self.name)

    def option_quotes(self, contracts):
        self.calls["options"] += 1
        if self.options_error:
            raise FeedError(self.options_error, f"{self.name} options {self.options_error.value}")
        now = self.clock.now()
        return {c.key: Quote(c.key, 1.0, 1.1, None, now, self.name) for c in contracts if c.key not in self.lacks}


class Rig:
    def __init__(self, market_open: bool = True) -> None:
        self.clock = VirtualClock(T0)
        self.theta, self.ib = Scripted(PRIMARY, self.clock), Scripted(FALLBACK, self.clock)
        self.events: list = []
        self.errors: Counter[tuple[str, str]] = Counter()

        def count(source: str, kind: str) -> None:
            self.errors[(source, kind)] += 1

        self.health = FeedHealth(CONFIG, T0)
        self.source = FailoverPriceSource(ReportingSource(self.theta, count), ReportingSource(self.ib, count),
                                          self.health, self.clock, self.events.append, lambda _now: market_open,
                                          symbol="SPY")

    def poll(self, contracts=(CALL,)) -> tuple[Quote | None, dict[str, Quote]]:
        self.clock.advance(1.0)
        spot = self.source.underlying_quote("SPY")
        return spot, dict(self.source.option_quotes(contracts))

    def kinds(self) -> list[EventKind]:
        return [event.kind for event in self.events]


@pytest.fixture
def rig() -> Rig:
    rig = Rig()
    for _ in range(3):
        rig.poll()
    return rig


def test_a_poll_is_stamped_when_it_finished_not_when_it_started(rig):
    rig.theta.spy_error, rig.theta.delay = FeedErrorKind.OUTAGE, 2.0  # a Terminal timing out after 2 s
    rig.clock.advance(1.0)
    started = rig.clock.now()
    rig.source.underlying_quote("SPY")
    [event] = rig.events
    assert event.kind is EventKind.SWITCHED_TO_FALLBACK and event.at == started + timedelta(seconds=2)


@pytest.mark.parametrize("kind", [FeedErrorKind.OUTAGE, FeedErrorKind.MALFORMED, FeedErrorKind.PERMISSION])
def test_failing_thetadata_option_quotes_use_ibs_the_same_poll_and_switch(rig, kind):
    rig.theta.options_error = kind  # 474, a timeout, a malformed body, 471 on the bulk option quote
    spot, quotes = rig.poll()
    assert quotes[CALL.key].source == FALLBACK
    assert rig.kinds() == [EventKind.SWITCHED_TO_FALLBACK] and rig.health.active == FALLBACK
    for _ in range(10):
        spot, quotes = rig.poll()
        assert spot.source == FALLBACK and quotes[CALL.key].source == FALLBACK
    assert rig.kinds() == [EventKind.SWITCHED_TO_FALLBACK]  # alerted once, no flapping back
    assert rig.errors[(PRIMARY, kind.value)] == 11


def test_option_quotes_rate_limited_for_long_switch_once_and_ib_covers_meanwhile(rig):
    rig.theta.options_error = FeedErrorKind.RATE_LIMITED
    for _ in range(5):
        _, quotes = rig.poll()
        assert quotes[CALL.key].source == FALLBACK
    assert rig.health.active == PRIMARY
    for _ in range(5):
        rig.poll()
    assert rig.kinds() == [EventKind.SWITCHED_TO_FALLBACK]
    assert rig.events[0].reason == Reason.NO_OPTION_QUOTES


def test_a_contract_thetadata_lacks_comes_from_ib(rig):
    rig.theta.lacks = {PUT.key}
    _, quotes = rig.poll((CALL, PUT))
    assert (quotes[CALL.key].source, quotes[PUT.key].source) == (PRIMARY, FALLBACK)


def test_a_single_rate_limited_spy_poll_uses_ibs_fresh_quote(rig):
    rig.theta.spy_error = FeedErrorKind.RATE_LIMITED
    spot, _ = rig.poll()
    assert spot.source == FALLBACK and rig.events == [] and rig.health.active == PRIMARY
    rig.theta.spy_error = None
    spot, _ = rig.poll()
    assert spot.source == PRIMARY
    assert rig.errors == {(PRIMARY, "rate_limited"): 1}


def test_without_a_fresh_ib_quote_the_rate_limit_reaches_the_feed(rig):
    rig.theta.spy_error = FeedErrorKind.RATE_LIMITED
    rig.ib.spy_error = FeedErrorKind.NO_DATA
    with pytest.raises(FeedError) as raised:
        rig.poll()
    assert raised.value.kind is FeedErrorKind.RATE_LIMITED


def test_on_ib_a_failing_terminal_costs_one_request_a_poll(rig):
    rig.theta.spy_error = FeedErrorKind.OUTAGE
    rig.poll()
    before = rig.theta.calls["options"]
    for _ in range(5):
        rig.poll()
    assert rig.theta.calls["options"] == before  # options not probed while SPY does not answer
    rig.theta.spy_error = None
    rig.poll()
    assert rig.theta.calls["options"] == before + 1


def test_outside_market_hours_an_old_quote_keeps_thetadata():
    rig = Rig(market_open=False)
    rig.theta.frozen_at = T0 - timedelta(hours=1)  # the last pre-market print
    for _ in range(20):
        spot, _ = rig.poll()
        assert spot.source == PRIMARY
    assert rig.events == []


def test_every_event_is_logged_with_its_detail(rig, caplog):
    rig.ib.mid = 640.0
    with caplog.at_level(logging.INFO, logger="cleanup.feed"):
        for _ in range(5):
            rig.poll()
    [line] = [record.getMessage() for record in caplog.records]
    assert "crosscheck_disagreement" in line
    assert "ThetaData 636.00" in line and "IB 640.00" in line and "tolerance 0.200%" in line


# --- other underlyings follow the source in use; the health machine judges by SPY only ---------------

def test_another_underlying_comes_from_the_source_in_use_without_touching_the_health_machine(rig):
    state = rig.health.state
    quote = rig.source.underlying_quote("QQQ")
    assert (quote.instrument, quote.source, quote.mid) == ("QQQ", PRIMARY, pytest.approx(512.0))
    assert rig.health.state == state and rig.events == [] and rig.ib.calls["QQQ"] == 0
    rig.theta.spy_error = FeedErrorKind.OUTAGE
    rig.poll()  # SPY fails: IB is in use from now on
    assert rig.source.underlying_quote("QQQ").source == FALLBACK


def test_another_underlying_failing_or_stale_on_thetadata_comes_from_ib_and_ib_has_its_own(rig):
    rig.ib.others = {"QQQ": 512.5}
    rig.theta.other_errors["QQQ"] = FeedErrorKind.NO_DATA
    assert rig.source.underlying_quote("QQQ").source == FALLBACK
    del rig.theta.other_errors["QQQ"]
    rig.theta.others_frozen_at["QQQ"] = rig.clock.now() - timedelta(seconds=30)
    assert rig.source.underlying_quote("QQQ").source == FALLBACK
    rig.ib.others_frozen_at["QQQ"] = rig.clock.now() - timedelta(seconds=60)
    stale = rig.source.underlying_quote("QQQ")  # both old: the fresher to be judged stale by the policy
    assert stale.source == PRIMARY and stale.age_seconds(rig.clock.now()) == 30
    assert rig.health.active == PRIMARY and rig.events == []


def test_another_underlying_neither_source_has_raises_the_error_of_the_source_in_use(rig):
    rig.ib.other_errors["IWM"] = FeedErrorKind.OUTAGE
    with pytest.raises(FeedError) as raised:
        rig.source.underlying_quote("IWM")
    assert raised.value.kind is FeedErrorKind.NO_DATA and "thetadata IWM" in str(raised.value)
