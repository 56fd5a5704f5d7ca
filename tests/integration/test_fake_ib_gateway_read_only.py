"""The fake IB Gateway in Read-Only API mode: every write is refused with 321 and changes nothing; reads work.

ib_async counts 321 among its warnings: a refused new order stays *active* (ValidationError), and a
refused what-if never completes. The service must read 321 as a reject itself.
"""

from __future__ import annotations

import asyncio

import pytest
from ib_async import LimitOrder, MarketOrder, Option, Stock

from tests.fakes.ib_gateway import FakeContract, FakeIBGateway, FakeOrder, FakePosition, GatewayScript
from tests.fakes.ib_gateway.harness import ib_client, settle

CALL = FakeContract.option("SPY 20261127 635C")
READ_ONLY_TEXT = "The API interface is currently in Read-Only mode."


def read_only(orders: list[FakeOrder] | None = None) -> GatewayScript:
    return GatewayScript(positions=[FakePosition(CALL, 2, 250.0)], open_orders=orders or [], read_only=True)


def refusals(errors, req_id: int) -> list[str]:
    return [e.message for e in errors if e.code == 321 and e.req_id == req_id]


def test_a_new_order_is_refused_and_ib_async_still_holds_it_as_active():
    with FakeIBGateway(read_only()) as gateway, ib_client(gateway) as (ib, errors):
        trade = ib.placeOrder(Option(conId=CALL.con_id, exchange="SMART"), LimitOrder("SELL", 2, 2.50))
        assert settle(ib, lambda: refusals(errors, trade.order.orderId) != [])
        [message] = refusals(errors, trade.order.orderId)
        assert message.startswith("Error validating request:-'") and message.endswith(READ_ONLY_TEXT)
        assert trade.orderStatus.status == "ValidationError" and trade.isActive()  # a phantom working order
        assert gateway.orders() == {} and ib.reqAllOpenOrders() == [] and gateway.position(CALL.key) == 2


def test_a_modification_and_a_cancel_of_a_working_order_are_refused_and_change_nothing():
    ours = FakeOrder(5, CALL, "SELL", 2, "LMT", limit_price=2.50, client_id=17)
    with FakeIBGateway(read_only([ours])) as gateway, ib_client(gateway) as (ib, errors):
        [trade] = ib.openTrades()
        trade.order.lmtPrice = 2.40
        ib.placeOrder(trade.contract, trade.order)
        ib.client.cancelOrder(5, "")
        assert settle(ib, lambda: len(refusals(errors, 5)) == 2)
        [still] = ib.reqAllOpenOrders()
        assert (still.order.lmtPrice, still.orderStatus.status) == (2.50, "Submitted")
        assert gateway.orders()[5].limit_price == 2.50 and gateway.orders()[5].is_working


def test_a_what_if_is_refused_and_ib_async_waits_for_it_in_vain():
    with FakeIBGateway(read_only()) as gateway, ib_client(gateway) as (ib, errors):
        waiting = ib.whatIfOrderAsync(Stock("SPY", "SMART", "USD"), MarketOrder("BUY", 1))
        with pytest.raises(TimeoutError):
            ib.run(asyncio.wait_for(waiting, 1.0))
        assert [e.code for e in errors if e.code == 321] == [321]


def test_client_zero_cannot_bind_tws_orders_but_still_reads_them():
    manual = FakeOrder(11, CALL, "SELL", 2, "STP", aux_price=1.0, client_id=0)
    with (FakeIBGateway(read_only([manual])) as gateway,
          ib_client(gateway, client_id=0) as (ib, errors)):  # connect sends reqAutoOpenOrders(True)
        assert settle(ib, lambda: any(e.code == 321 for e in errors))
        [refused] = [e for e in errors if e.code == 321]
        assert refused.req_id == 2147483647 and refused.message.endswith(READ_ONLY_TEXT)
        [seen] = ib.reqOpenOrders()
        assert seen.order.orderId == 0 and gateway.orders()[11].bound_id is None


def test_reads_keep_working():
    with FakeIBGateway(read_only()) as gateway:
        gateway.set_quote("SPY", 600.0, 600.02, 600.01)
        with ib_client(gateway) as (ib, errors):
            assert [(p.contract.conId, p.position) for p in ib.reqPositions()] == [(CALL.con_id, 2)]
            [spy] = ib.qualifyContracts(Stock("SPY", "SMART", "USD"))
            ticker = ib.reqMktData(spy)
            assert settle(ib, lambda: ticker.bid == 600.0)
            assert ib.reqExecutions() == [] and ib.reqAllOpenOrders() == []
            assert not [e for e in errors if e.code == 321]
