"""Trailing stops and other order types at the fake IB Gateway, carried through placeOrder and openOrder."""

from __future__ import annotations

import pytest
from ib_async import Option, Order

from tests.fakes.ib_gateway import FakeContract, FakeIBGateway, FakePosition, GatewayScript, OrderBehaviour
from tests.fakes.ib_gateway.harness import ib_client, settle

PUT = FakeContract.option("SPY 20261127 600P")


FILLING = OrderBehaviour.fill()


def short_put(behaviour: OrderBehaviour = FILLING) -> GatewayScript:
    return GatewayScript(positions=[FakePosition(PUT, -2, 110.0)], default_behaviour=behaviour)


def place(ib, **fields):
    return ib.placeOrder(Option(conId=PUT.con_id, exchange="SMART"), Order(action="BUY", totalQuantity=2, **fields))


def at_ib(ib, order_id: int) -> Order:
    return next(t.order for t in ib.reqAllOpenOrders() if t.order.orderId == order_id)


def test_a_trailing_stop_by_amount_rests_with_its_trail_and_stop_price():
    with FakeIBGateway(short_put()) as gateway, ib_client(gateway) as (ib, _):
        trade = place(ib, orderType="TRAIL", auxPrice=0.50, trailStopPrice=4.70)
        assert settle(ib, lambda: trade.orderStatus.status == "Submitted")
        seen = at_ib(ib, trade.order.orderId)
        assert (seen.orderType, seen.auxPrice, seen.trailStopPrice) == ("TRAIL", 0.50, 4.70)
        order = gateway.orders()[trade.order.orderId]
        assert (order.aux_price, order.trail_stop_price, order.is_working) == (0.50, 4.70, True)


def test_a_trailing_stop_by_percent_and_a_trailing_stop_limit_keep_their_fields():
    with FakeIBGateway(short_put()) as gateway, ib_client(gateway) as (ib, _):
        by_percent = place(ib, orderType="TRAIL", trailingPercent=10.0, trailStopPrice=4.80)
        trail_limit = place(ib, orderType="TRAIL LIMIT", auxPrice=0.40, trailStopPrice=4.60, lmtPriceOffset=0.10)
        assert settle(ib, lambda: trail_limit.orderStatus.status == "Submitted")
        percent = at_ib(ib, by_percent.order.orderId)
        assert (percent.trailingPercent, percent.trailStopPrice) == (10.0, 4.80)
        limit = at_ib(ib, trail_limit.order.orderId)
        assert (limit.orderType, limit.auxPrice, limit.trailStopPrice, limit.lmtPriceOffset) == (
            "TRAIL LIMIT", 0.40, 4.60, 0.10)
        assert gateway.orders()[trail_limit.order.orderId].limit_offset == 0.10


def test_a_trailing_stop_modified_to_market_fills():
    with FakeIBGateway(short_put(OrderBehaviour.rest())) as gateway, ib_client(gateway) as (ib, _):
        trade = place(ib, orderType="TRAIL", auxPrice=0.50, trailStopPrice=4.70)
        assert settle(ib, lambda: trade.orderStatus.status == "Submitted")
        trade.order.orderType = "MKT"
        ib.placeOrder(trade.contract, trade.order)
        assert settle(ib, lambda: trade.orderStatus.status == "Filled") and gateway.position(PUT.key) == 0


def test_another_clients_trailing_stop_shows_its_trail():
    with FakeIBGateway(short_put()) as gateway, ib_client(gateway) as (ib, _):
        theirs = gateway.place_order_as(42, PUT.key, "BUY", 2, "TRAIL", aux=0.5, trail_stop=4.7)
        seen = at_ib(ib, theirs.order_id)
        assert (seen.orderType, seen.clientId, seen.auxPrice, seen.trailStopPrice) == ("TRAIL", 42, 0.5, 4.7)


@pytest.mark.parametrize("order_type", ["MIT", "LIT", "REL"])
def test_other_order_types_work_like_limits(order_type):
    with FakeIBGateway(short_put(OrderBehaviour.rest())) as gateway, ib_client(gateway) as (ib, _):
        resting = place(ib, orderType=order_type, lmtPrice=4.0, auxPrice=4.1)
        assert settle(ib, lambda: resting.orderStatus.status == "Submitted")
        assert at_ib(ib, resting.order.orderId).orderType == order_type
        gateway.fill(resting.order.orderId)
        assert settle(ib, lambda: resting.orderStatus.status == "Filled")
        assert resting.orderStatus.avgFillPrice == 4.0 and gateway.position(PUT.key) == 0
