"""Market-data errors and market-data types at the fake IB Gateway, as IB answers reqMktData."""

from __future__ import annotations

import math

import pytest
from ib_async import Stock

from tests.fakes.ib_gateway import FakeIBGateway, GatewayScript
from tests.fakes.ib_gateway import codes as ib_codes
from tests.fakes.ib_gateway.harness import ib_client, settle


def quoted(errors: dict[str, tuple[int, str]] | None = None) -> FakeIBGateway:
    gateway = FakeIBGateway(GatewayScript(market_data_errors=errors or {})).start()
    gateway.set_quote("SPY", 600.0, 600.02, 600.01)
    gateway.set_quote("QQQ", 510.0, 510.04, 510.02)
    return gateway


def subscribe(ib, symbol: str):
    [contract] = ib.qualifyContracts(Stock(symbol, "SMART", "USD"))
    return ib.reqMktData(contract)


@pytest.mark.parametrize("code", [354, 101])
def test_a_refused_subscription_gets_the_error_and_no_ticks(code):
    gateway = quoted({"QQQ": (code, ib_codes.text(code))})
    try:
        with ib_client(gateway) as (ib, errors):
            qqq, spy = subscribe(ib, "QQQ"), subscribe(ib, "SPY")
            assert settle(ib, lambda: spy.bid == 600.0)
            ib.sleep(0.2)
            assert [(e.code, e.message) for e in errors] == [(code, ib_codes.text(code))]
            assert errors[0].req_id == ib.wrapper.ticker2ReqId["mktData"][qqq]
            assert math.isnan(qqq.bid) and math.isnan(qqq.last)  # no tick ever came
    finally:
        gateway.stop()


def test_part_of_the_data_not_subscribed_is_said_and_live_ticks_still_come():
    # IB's text: "Subscription-independent ticks are still active."
    code = ib_codes.PART_OF_MARKET_DATA_NOT_SUBSCRIBED
    gateway = quoted({"QQQ": (code, ib_codes.text(code))})
    try:
        with ib_client(gateway) as (ib, errors):
            qqq = subscribe(ib, "QQQ")
            assert settle(ib, lambda: not math.isnan(qqq.bid))
            assert [e.code for e in errors] == [code]
    finally:
        gateway.stop()


def test_delayed_data_comes_with_its_warning_as_delayed_ticks_of_type_3():
    gateway = quoted({"QQQ": (ib_codes.DELAYED_MARKET_DATA, ib_codes.text(ib_codes.DELAYED_MARKET_DATA))})
    try:
        with ib_client(gateway) as (ib, errors):
            tick_types: dict[int, set[int]] = {}
            handle = ib.wrapper.priceSizeTick

            def record(req_id, tick_type, price, size):
                tick_types.setdefault(req_id, set()).add(tick_type)
                handle(req_id, tick_type, price, size)

            ib.wrapper.priceSizeTick = record
            qqq, spy = subscribe(ib, "QQQ"), subscribe(ib, "SPY")
            assert settle(ib, lambda: qqq.bid == 510.0 and qqq.last == 510.02 and spy.bid == 600.0)
            assert (qqq.marketDataType, spy.marketDataType) == (3, 1)
            assert [e.code for e in errors] == [10167]
            lines = ib.wrapper.ticker2ReqId["mktData"]
            assert (tick_types[lines[qqq]], tick_types[lines[spy]]) == ({66, 67, 68}, {1, 2, 4})
    finally:
        gateway.stop()


@pytest.mark.parametrize(("requested", "live", "delayed"), [(1, 1, 3), (2, 2, 4), (3, 1, 3), (4, 2, 4)])
def test_subscriptions_answer_the_market_data_type_the_client_asked_for(requested, live, delayed):
    gateway = quoted({"QQQ": (ib_codes.DELAYED_MARKET_DATA, ib_codes.text(ib_codes.DELAYED_MARKET_DATA))})
    try:
        with ib_client(gateway) as (ib, _):
            ib.reqMarketDataType(requested)
            qqq, spy = subscribe(ib, "QQQ"), subscribe(ib, "SPY")
            assert settle(ib, lambda: qqq.bid == 510.0 and spy.bid == 600.0)
            assert (spy.marketDataType, qqq.marketDataType) == (live, delayed)
            assert [r.fields[2] for r in gateway.received("reqMarketDataType")] == [str(requested)]
    finally:
        gateway.stop()
