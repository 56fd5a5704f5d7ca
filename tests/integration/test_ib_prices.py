"""IBPriceSource: SPY and option quotes from IB market data over the fake gateway."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest

from domain.feed_errors import FeedError, FeedErrorKind
from domain.model import OptionContract, Right
from gateways.ib import IBBroker, IBPriceSource, ReconnectPolicy
from gateways.ib.idle_lines import IDLE_POLLS
from gateways.ib.prices import RETRY_AFTER
from runtime.clock import VirtualClock
from tests.fakes.ib_gateway import FakeIBGateway, GatewayScript, QuoteStep, codes
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


# --- IB's market-data errors, the data type, unused subscriptions ------------------------------------

def refusal(code):
    return code, codes.text(code)


@pytest.fixture
def market():
    """``market(**script)``: a gateway quoting SPY, the call and the put, with these script changes."""
    opened = []

    def open_market(**changes):
        gateway = FakeIBGateway(GatewayScript(price_path=[
            QuoteStep(0.0, "SPY", 640.00, 640.02, 640.01),
            QuoteStep(0.0, CALL.key, 5.00, 5.10, 5.05, implied_vol=0.21),
            QuoteStep(0.0, PUT.key, 1.00, 1.10, 1.05, implied_vol=0.25),
        ], **changes)).start()
        clock = VirtualClock(NOW)
        broker = IBBroker(settings_for(gateway), clock, request_timeout=3, connect_timeout=3,
                          reconnect=ReconnectPolicy(0.05, 0.2, 0.05))
        broker.connect()
        opened.append((gateway, broker))
        return gateway, IBPriceSource(broker, clock), clock

    yield open_market
    for gateway, broker in opened:
        broker.disconnect()
        gateway.stop()


def settled_error(read, timeout=3.0) -> FeedError:
    """Read until IB's answer to the subscription has come: the FeedError other than "not quoted yet"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            read()
        except FeedError as error:
            if error.kind is not FeedErrorKind.NO_DATA or time.monotonic() > deadline:
                return error
        else:
            raise AssertionError("IB quoted it")
        time.sleep(0.02)


def told(caplog, text):
    return [r for r in caplog.records if r.name == "gateways.ib.prices" and text in r.getMessage()]


def test_no_subscription_354_is_a_permission_error_naming_what_to_buy_and_is_logged_once(market, caplog):
    gateway, prices, clock = market(market_data_errors={"SPY": refusal(354)})
    error = settled_error(lambda: prices.underlying_quote("SPY"))
    print("\n" + str(error))
    assert error.kind is FeedErrorKind.PERMISSION and "\n" not in str(error)
    assert str(error).startswith("IB market data for SPY: IB 354 Requested market data is not subscribed")
    assert "subscribe to US stock/ETF market data for SPY for API use" in str(error)
    for _ in range(20):
        with pytest.raises(FeedError) as again:
            prices.underlying_quote("SPY")
        assert again.value.kind is FeedErrorKind.PERMISSION
    assert len(told(caplog, "IB 354")) == 1
    assert not [r for r in caplog.records if r.name.startswith("ib_async") and "354" in r.getMessage()]
    assert gateway.count("reqMktData") == 1  # not asked again before RETRY_AFTER


def test_an_option_without_opra_names_opra_and_the_other_contracts_are_still_quoted(market, caplog):
    gateway, prices, clock = market(market_data_errors={PUT.key: refusal(354)})
    error = settled_error(lambda: prices.option_quotes([PUT]))
    assert error.kind is FeedErrorKind.PERMISSION and "OPRA (US options) and SPY market data" in str(error)
    assert gateway.wait_for(lambda: poll(prices, False, [CALL, PUT]) == 1)
    assert set(prices.option_quotes([CALL, PUT])) == {CALL.key}  # the put in error is left out, the call is used
    assert len(told(caplog, "IB 354")) == 1


def test_the_line_limit_101_is_its_own_message(market):
    gateway, prices, clock = market(market_data_errors={CALL.key: refusal(101)})
    error = settled_error(lambda: prices.option_quotes([CALL]))
    print("\n" + str(error))
    assert error.kind is FeedErrorKind.RATE_LIMITED
    assert "line limit is reached" in str(error) and "OPRA" not in str(error)


def test_a_competing_live_session_10197_says_to_log_it_out(market):
    gateway, prices, clock = market(market_data_errors={"SPY": refusal(10197)})
    error = settled_error(lambda: prices.underlying_quote("SPY"))
    assert error.kind is FeedErrorKind.OUTAGE and "log it out" in str(error)


@pytest.mark.parametrize("script", [{"market_data_errors": {"SPY": refusal(10167)}},  # IB streams delayed data
                                    {"market_data_types": {"SPY": 3}},
                                    {"market_data_types": {"SPY": 2}}], ids=["10167", "delayed", "frozen"])
def test_delayed_or_frozen_data_is_said_once_and_never_used_as_live(market, caplog, script):
    gateway, prices, clock = market(**script)
    error = settled_error(lambda: prices.underlying_quote("SPY"))
    print("\n" + str(error))
    assert error.kind is FeedErrorKind.PERMISSION
    assert "delayed" in str(error) or "frozen" in str(error)
    assert gateway.wait_for(lambda: gateway.count("reqMktData") == 1 and len(gateway.sessions) == 1)
    for _ in range(10):  # the prices keep streaming in, and are never quoted
        with pytest.raises(FeedError):
            prices.underlying_quote("SPY")
        time.sleep(0.02)
    assert len([r for r in caplog.records if r.name == "gateways.ib.prices"]) == 1


def test_part_not_subscribed_10090_is_said_once_and_its_live_prices_are_used(market, caplog):
    gateway, prices, clock = market(market_data_errors={CALL.key: refusal(10090)})
    call = wait_quote(lambda: prices.option_quotes([CALL]))[CALL.key]
    assert (call.bid, call.ask) == (5.00, 5.10)
    assert gateway.wait_for(lambda: len(told(caplog, "IB 10090")) == 1)
    assert "still used" in told(caplog, "IB 10090")[0].getMessage()


def test_a_refused_instrument_is_asked_again_after_a_minute_and_used_once_ib_gives_live_data(market):
    gateway, prices, clock = market(market_data_errors={"SPY": refusal(354)})
    settled_error(lambda: prices.underlying_quote("SPY"))
    clock.advance(RETRY_AFTER.total_seconds() - 1)
    settled_error(lambda: prices.underlying_quote("SPY"))
    assert gateway.count("reqMktData") == 1
    del gateway.script.market_data_errors["SPY"]  # the subscription is bought
    clock.advance(2)
    assert wait_quote(lambda: prices.underlying_quote("SPY")).bid == 640.00
    assert gateway.count("reqMktData") == 2
    assert gateway.count("cancelMktData") == 0  # IB kept nothing for the refused request: nothing to cancel


def test_delayed_data_is_cancelled_before_it_is_asked_for_again(market):
    gateway, prices, clock = market(market_data_types={"SPY": 3})
    settled_error(lambda: prices.underlying_quote("SPY"))
    clock.advance(RETRY_AFTER.total_seconds() + 1)
    del gateway.script.market_data_types["SPY"]
    assert wait_quote(lambda: prices.underlying_quote("SPY")).bid == 640.00
    assert [r.name for r in gateway.received() if r.name in ("reqMktData", "cancelMktData")] == \
        ["reqMktData", "cancelMktData", "reqMktData"]


def test_live_data_is_asked_for_on_every_connect_and_after_ib_lost_market_data(feed):
    gateway, broker, prices, clock = feed
    wait_quote(lambda: prices.underlying_quote("SPY"))
    assert [r.fields[2] for r in gateway.received("reqMarketDataType")] == ["1"]  # live, before subscribing
    assert gateway.received()[-1].name != "reqMarketDataType"
    generation = broker.session
    gateway.drop_connections()  # IB Gateway's nightly restart: the new connection forgets the type
    assert gateway.wait_for(lambda: broker.session > generation and broker.is_connected())
    wait_quote(lambda: prices.underlying_quote("SPY"))
    assert [r.session for r in gateway.received("reqMarketDataType")] == [1, 2]
    generation = broker.session
    gateway.send_connectivity(1101)  # restored, market data lost
    assert gateway.wait_for(lambda: broker.session == generation + 1)
    wait_quote(lambda: prices.underlying_quote("SPY"))
    assert [r.fields[2] for r in gateway.received("reqMarketDataType")] == ["1", "1", "1"]


def poll(prices, underlying=True, contracts=()) -> int:
    """One poll as the PriceFeed makes it (the underlying, then the held contracts): how many were quoted."""
    quoted = 0
    try:
        if underlying:
            prices.underlying_quote("SPY")
            quoted += 1
        if contracts:
            quoted += len(prices.option_quotes(list(contracts)))
    except FeedError:
        pass
    return quoted


def cancels(gateway, broker) -> int:
    """cancelMktData messages the gateway has received, once everything sent so far has arrived."""
    broker.positions()  # a round trip: the gateway answers requests in the order they came
    return gateway.count("cancelMktData")


def test_a_contract_no_longer_asked_for_is_cancelled_after_a_few_polls_and_subscribed_again_later(feed):
    gateway, broker, prices, clock = feed
    assert gateway.wait_for(lambda: poll(prices, True, [CALL]) == 2)
    assert cancels(gateway, broker) == 0
    for count in range(1, IDLE_POLLS + 1):  # the call's position went away: the feed asks for SPY only
        poll(prices, True, [])
        assert cancels(gateway, broker) == (1 if count == IDLE_POLLS else 0)
    [cancel] = gateway.received("cancelMktData")
    [_, call_request] = gateway.received("reqMktData")
    assert cancel.fields[2] == call_request.fields[2]  # the call's request, not SPY's
    assert gateway.wait_for(lambda: all(CALL.key not in s.market_data.instruments() for s in gateway.sessions))
    assert wait_quote(lambda: prices.option_quotes([CALL]))[CALL.key].bid == 5.00  # held again: subscribed again
    assert gateway.count("reqMktData") == 3


def test_an_underlying_no_longer_asked_for_is_cancelled_too(feed):
    gateway, broker, prices, clock = feed
    assert gateway.wait_for(lambda: poll(prices, True, [CALL]) == 2)
    for count in range(1, IDLE_POLLS + 1):
        poll(prices, False, [CALL])
        assert cancels(gateway, broker) == (1 if count == IDLE_POLLS else 0)
    [cancel] = gateway.received("cancelMktData")
    assert cancel.fields[2] == gateway.received("reqMktData")[0].fields[2]
