"""Orders of other API clients and of TWS at the fake IB Gateway, and client 0 binding TWS orders, as at IB."""

from __future__ import annotations

from ib_async import MarketOrder, Option, StopOrder

from tests.fakes.ib_gateway import FakeContract, FakeIBGateway, FakeOrder, FakePosition, GatewayScript
from tests.fakes.ib_gateway.harness import ib_client, settle

PUT = FakeContract.option("SPY 20261127 600P")


def short_put(*orders: FakeOrder) -> GatewayScript:
    return GatewayScript(positions=[FakePosition(PUT, -2, 110.0)], open_orders=list(orders))


def tws_stop() -> FakeOrder:
    return FakeOrder(11, PUT, "BUY", 2, "STP", aux_price=4.2, client_id=0)


def record_bound(ib) -> list[tuple[int, int, int]]:
    bound: list[tuple[int, int, int]] = []
    ib.wrapper.orderBound = lambda perm_id, client_id, order_id: bound.append((perm_id, client_id, order_id))
    return bound


def test_a_tws_order_shows_as_id_0_and_nobody_but_a_binding_client_0_can_touch_it():
    with FakeIBGateway(short_put(tws_stop())) as gateway, ib_client(gateway) as (ib, errors):
        [seen] = ib.reqAllOpenOrders()
        assert (seen.order.orderId, seen.order.clientId, seen.order.auxPrice) == (0, 0, 4.2)
        ib.client.placeOrder(0, Option(conId=PUT.con_id, exchange="SMART"), MarketOrder("BUY", 2))
        ib.client.cancelOrder(0, "")
        assert settle(ib, lambda: len(errors) == 2)
        assert [(e.req_id, e.code) for e in errors] == [(0, 103), (0, 10147)]
        assert errors[1].message == "OrderId 0 that needs to be cancelled is not found."
        stop = gateway.orders()[11]
        assert (stop.order_type, stop.is_working, gateway.position(PUT.key)) == ("STP", True, -2)


def test_client_0_binds_open_tws_orders_with_reqopenorders_and_then_may_convert_them():
    with (FakeIBGateway(short_put(tws_stop())) as gateway,
          ib_client(gateway, client_id=0, readonly=True) as (ib, _)):  # readonly: ib_async skips reqOpenOrders
        bound = record_bound(ib)
        [unbound] = ib.reqAllOpenOrders()  # never binds
        assert unbound.order.orderId == 0 and gateway.orders()[11].bound_id is None
        [mine] = ib.reqOpenOrders()
        perm_id = gateway.orders()[11].perm_id
        assert bound == [(perm_id, 0, -1)]
        # ib_async keeps the id it first saw on a Trade it already holds: the bound id is orderBound's
        assert mine is unbound and mine.order.orderId == 0
        ib.client.placeOrder(-1, Option(conId=PUT.con_id, exchange="SMART"), MarketOrder("BUY", 2))
        assert gateway.wait_for(lambda: gateway.position(PUT.key) == 0)
        assert gateway.orders()[11].status == "Filled"


def test_client_0_binds_at_connect_and_auto_binds_tws_orders_placed_later():
    with (FakeIBGateway(short_put(tws_stop())) as gateway,
          ib_client(gateway, client_id=0) as (ib, _)):  # connect: reqAutoOpenOrders(True), reqOpenOrders
        assert [t.order.orderId for t in ib.openTrades()] == [-1]
        bound = record_bound(ib)
        later = gateway.place_order_as(0, PUT.key, "BUY", 1, "STP", aux=5.0)
        assert settle(ib, lambda: len(ib.openTrades()) == 2)
        assert bound == [(later.perm_id, 0, -2)] and later.api_id == -2
        ib.client.cancelOrder(-2, "")
        assert gateway.wait_for(lambda: later.status == "Cancelled") and gateway.orders()[11].is_working


def test_an_order_of_another_api_client_is_seen_only_on_request_and_never_touched():
    with FakeIBGateway(short_put()) as gateway, ib_client(gateway) as (ib, errors):
        theirs = gateway.place_order_as(42, PUT.key, "BUY", 2, "STP", aux=4.2, order_ref="theirs")
        ib.sleep(0.2)
        assert ib.openTrades() == []  # not pushed to client 17
        [seen] = ib.reqAllOpenOrders()
        assert (seen.order.orderId, seen.order.clientId, seen.order.orderRef) == (theirs.order_id, 42, "theirs")
        ib.client.placeOrder(theirs.order_id, seen.contract, StopOrder("BUY", 2, 4.0))
        ib.client.cancelOrder(theirs.order_id, "")
        assert settle(ib, lambda: len(errors) == 2)
        assert [e.code for e in errors] == [103, 10147]
        assert (theirs.aux_price, theirs.status) == (4.2, "Submitted") and gateway.position(PUT.key) == -2


def test_only_client_0_may_ask_for_auto_binding():
    with FakeIBGateway(short_put(tws_stop())) as gateway, ib_client(gateway) as (ib, errors):
        ib.reqAutoOpenOrders(True)
        assert settle(ib, lambda: [e.code for e in errors] == [327])
        gateway.place_order_as(0, PUT.key, "BUY", 1, "STP", aux=5.0)
        assert [t.order.orderId for t in ib.reqAllOpenOrders()] == [0, 0]
