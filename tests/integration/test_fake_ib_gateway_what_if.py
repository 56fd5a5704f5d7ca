"""What-if orders at the fake IB Gateway: never placed, answered with the margin and commission they would cost."""

from __future__ import annotations

from ib_async import LimitOrder, MarketOrder, Option, Stock

from tests.fakes.ib_gateway import FakeContract, FakeIBGateway, FakePosition, GatewayScript
from tests.fakes.ib_gateway.harness import ib_client

CALL = FakeContract.option("SPY 20261127 635C")


def test_a_what_if_stock_order_returns_its_margin_and_commission_and_places_nothing():
    with FakeIBGateway(GatewayScript()) as gateway:
        gateway.set_quote("SPY", 600.0, 600.02, 600.01)
        with ib_client(gateway) as (ib, errors):
            state = ib.whatIfOrder(Stock("SPY", "SMART", "USD"), MarketOrder("BUY", 1))
            margins = state.numeric()
            assert margins.initMarginChange == 150.0  # a quarter of one share at the last price
            assert margins.initMarginAfter == margins.initMarginBefore + margins.initMarginChange
            assert state.commission == 1.0 and state.commissionCurrency == "USD"
            assert gateway.orders() == {} and ib.reqAllOpenOrders() == [] and errors == []
            assert gateway.position("SPY") == 0


def test_a_what_if_short_option_sale_costs_margin_on_the_underlying_and_commission_per_contract():
    with FakeIBGateway(GatewayScript(positions=[FakePosition(CALL, 2, 250.0)])) as gateway:
        gateway.set_quote("SPY", 600.0, 600.02, 600.0)
        with ib_client(gateway) as (ib, _):
            state = ib.whatIfOrder(Option(conId=CALL.con_id, exchange="SMART"), LimitOrder("SELL", 3, 2.50))
            assert state.numeric().initMarginChange == 36_000.0  # 20% of 3 x 100 x 600
            assert state.commission == 1.95  # 3 x 0.65
            assert gateway.orders() == {} and gateway.position(CALL.key) == 2
