"""IBPriceSource: SPY and option quotes from IB market data over the fake gateway."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest

from domain.model import OptionContract, Right
from gateways.ib import IBBroker, IBPriceSource, ReconnectPolicy
from gateways.prices import FeedError, FeedErrorKind
from runtime.clock import VirtualClock
from tests.fakes.ib_gateway import FakeIBGateway, GatewayScript, QuoteStep
from tests.fakes.ib_gateway.harness import settings_for

CALL = OptionContract("SPY", Right.CALL, 635, date(2026, 11, 27))
PUT = OptionContract("SPY", Right.PUT, 600, date(2026, 11, 27))
NOW = datetime(2026, 11, 27, 20, 55, tzinfo=UTC)


@pytest.fixture(params=["live"])
def feed(request):
    """A live market ticks on (the default); ``frozen``: each quote is sent once and never again."""
    gateway = FakeIBGateway(GatewayScript(price_path=[
        QuoteStep(0.0, "SPY", 640.00, 640.02, 640.01),
        QuoteStep(0.0, CALL.key, 5.00, 5.10, 5.05, implied_vol=0.21),
    ], tick_every=None if request.param == "frozen" else 0.05)).start()
    clock = VirtualClock(NOW)
    broker = IBBroker(settings_for(gateway), clock, request_timeout=3, connect_timeout=3,
                      reconnect=ReconnectPolicy(0.05, 0.2, 0.05))
    broker.connect()
    yield gateway, broker, IBPriceSource(broker, clock), clock
    broker.disconnect()
    gateway.stop()


def wait_quote(read, timeout=3.0):
    """Ticks stream in one by one: wait until every field of the first quote has arrived."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = read()
            quotes = result.values() if isinstance(result, dict) else [result]
            complete = all(q.bid and q.ask and (q.last if q.instrument == "SPY" else q.implied_vol) for q in quotes)
            if complete or time.monotonic() > deadline:
                return result
        except FeedError as error:
            if error.kind is not FeedErrorKind.NO_DATA or time.monotonic() > deadline:
                raise
        time.sleep(0.02)


def test_spy_and_option_quotes_carry_the_time_they_ticked_and_their_source(feed):
    gateway, broker, prices, clock = feed
    spy = wait_quote(lambda: prices.underlying_quote("SPY"))
    assert (spy.instrument, spy.bid, spy.ask, spy.last, spy.source, spy.at) == \
        ("SPY", 640.00, 640.02, 640.01, "ib", NOW)
    quotes = wait_quote(lambda: prices.option_quotes([CALL]))
    call = quotes[CALL.key]
    assert (call.bid, call.ask, call.implied_vol, call.source) == (5.00, 5.10, 0.21, "ib")


@pytest.mark.parametrize("feed", ["frozen"], indirect=True)
def test_a_frozen_ib_price_ages_and_goes_stale_and_the_next_tick_makes_it_fresh(feed):
    gateway, broker, prices, clock = feed
    max_age = settings_for(gateway).quote_max_age_seconds
    assert wait_quote(lambda: prices.underlying_quote("SPY")).at == NOW
    subscriptions = gateway.count("reqMktData")
    clock.advance(max_age + 2)  # no tick since: the same price, as old as it really is
    frozen = prices.underlying_quote("SPY")
    assert frozen.at == NOW and frozen.age_seconds(clock.now()) > max_age
    gateway.set_quote("SPY", 641.00, 641.02, 641.01)
    assert gateway.wait_for(lambda: prices.underlying_quote("SPY").bid == 641.00)
    assert prices.underlying_quote("SPY").at == clock.now()  # it ticked at the clock's now
    assert gateway.count("reqMktData") == subscriptions  # streaming: one subscription per instrument


def test_a_live_ib_price_stays_fresh_as_the_market_ticks(feed):
    gateway, broker, prices, clock = feed
    wait_quote(lambda: prices.underlying_quote("SPY"))
    clock.advance(30)
    assert gateway.wait_for(lambda: prices.underlying_quote("SPY").at == clock.now())


def test_after_ib_lost_market_data_1101_every_instrument_is_subscribed_again(feed):
    gateway, broker, prices, clock = feed
    wait_quote(lambda: prices.option_quotes([CALL]))
    wait_quote(lambda: prices.underlying_quote("SPY"))
    subscriptions = gateway.count("reqMktData")
    gateway.send_connectivity(1100)
    assert gateway.wait_for(lambda: not broker.is_connected())
    with pytest.raises(FeedError) as error:
        prices.underlying_quote("SPY")
    assert error.value.kind is FeedErrorKind.OUTAGE
    gateway.send_connectivity(1101)  # restored, but IB dropped every subscription
    assert gateway.wait_for(broker.is_connected)
    gateway.set_quote("SPY", 641.00, 641.02, 641.01)
    assert gateway.wait_for(lambda: wait_quote(lambda: prices.underlying_quote("SPY")).bid == 641.00)
    assert wait_quote(lambda: prices.option_quotes([CALL]))[CALL.key].bid == 5.00
    assert gateway.count("reqMktData") == subscriptions + 2  # SPY and the call, once each


def test_an_unquoted_option_is_left_out_and_nothing_quoted_is_no_data(feed):
    gateway, broker, prices, clock = feed
    wait_quote(lambda: prices.option_quotes([CALL]))
    assert set(wait_quote(lambda: prices.option_quotes([CALL, PUT]))) == {CALL.key}
    with pytest.raises(FeedError) as error:
        prices.option_quotes([PUT])
    assert error.value.kind is FeedErrorKind.NO_DATA


def test_disconnected_is_an_outage_and_quotes_return_after_reconnect(feed):
    gateway, broker, prices, clock = feed
    wait_quote(lambda: prices.underlying_quote("SPY"))
    gateway.refuse_connections(True)
    gateway.drop_connections()
    assert gateway.wait_for(lambda: not broker.is_connected())
    with pytest.raises(FeedError) as error:
        prices.underlying_quote("SPY")
    assert error.value.kind is FeedErrorKind.OUTAGE
    gateway.refuse_connections(False)
    assert gateway.wait_for(broker.is_connected)
    assert wait_quote(lambda: prices.underlying_quote("SPY")).bid == 640.00  # subscribed again
