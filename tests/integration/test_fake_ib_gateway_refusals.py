"""The fake IB Gateway refuses a change to a working order while the order keeps working, as IB does.

ib_async takes the refusal's error as the order's end (wrapper.error marks the Trade Cancelled), while
IB's own open-order list still shows it working at its old price: the defect the service must survive.
"""

from __future__ import annotations

import pytest
from ib_async import LimitOrder, Option

from tests.fakes.ib_gateway import FakeContract, FakeIBGateway, FakePosition, GatewayScript, OrderBehaviour, Refusal
from tests.fakes.ib_gateway.harness import ib_client, settle

CALL_KEY = "SPY 20261127 635C"
CALL = FakeContract.option(CALL_KEY)
PERM_ID = 9_000_001  # the first permId the gateway hands out


def holding(behaviour: OrderBehaviour) -> GatewayScript:
    return GatewayScript(positions=[FakePosition(CALL, 2, 250.0)], default_behaviour=behaviour)


def at_ib(ib, order_id: int):
    return next(t for t in ib.reqAllOpenOrders() if t.order.orderId == order_id)


@pytest.mark.parametrize(("code", "text"), [
    (201, "Order rejected - reason:The contract is not available for trading"),
    (104, "Can't modify a filled order."),
    (161, f"Cancel attempted when order is not in a cancellable state. Order permId = {PERM_ID}"),
])
def test_a_refused_price_change_leaves_the_order_working_at_its_old_price(code, text):
    with (FakeIBGateway(holding(OrderBehaviour.rest().refusing_modifications(code))) as gateway,
          ib_client(gateway) as (ib, errors)):
        trade = ib.placeOrder(Option(conId=CALL.con_id, exchange="SMART"), LimitOrder("SELL", 2, 2.50))
        assert settle(ib, lambda: trade.orderStatus.status == "Submitted")
        trade.order.lmtPrice = 2.40
        ib.placeOrder(trade.contract, trade.order)
        assert settle(ib, lambda: trade.orderStatus.status == "Cancelled")  # ib_async: the order ended
        order_id = trade.order.orderId
        assert [(e.req_id, e.code, e.message) for e in errors if e.code == code] == [(order_id, code, text)]
        still = at_ib(ib, order_id)
        assert (still.orderStatus.status, still.order.lmtPrice, still.order.totalQuantity) == ("Submitted", 2.50, 2)
        assert gateway.orders()[order_id].limit_price == 2.50 and gateway.orders()[order_id].is_working


def test_after_the_scripted_refusals_a_modification_goes_through():
    with (FakeIBGateway(holding(OrderBehaviour.rest().refusing_modifications(201, times=1))) as gateway,
          ib_client(gateway) as (ib, _)):
        trade = ib.placeOrder(Option(conId=CALL.con_id, exchange="SMART"), LimitOrder("SELL", 2, 2.50))
        assert settle(ib, lambda: trade.orderStatus.status == "Submitted")
        trade.order.lmtPrice = 2.40
        ib.placeOrder(trade.contract, trade.order)
        assert settle(ib, lambda: trade.orderStatus.status == "Cancelled")
        # ib_async refuses to modify a Trade it thinks is done: the second try goes out by the raw client
        ib.client.placeOrder(trade.order.orderId, trade.contract, trade.order)
        assert settle(ib, lambda: at_ib(ib, trade.order.orderId).order.lmtPrice == 2.40)
        assert gateway.orders()[trade.order.orderId].limit_price == 2.40


def test_a_refused_cancel_leaves_the_order_working():
    with (FakeIBGateway(holding(OrderBehaviour.rest().refusing_cancels())) as gateway,
          ib_client(gateway) as (ib, errors)):
        trade = ib.placeOrder(Option(conId=CALL.con_id, exchange="SMART"), LimitOrder("SELL", 2, 2.50))
        assert settle(ib, lambda: trade.orderStatus.status == "Submitted")
        ib.cancelOrder(trade.order)
        assert settle(ib, lambda: trade.orderStatus.status == "Cancelled")
        assert [e.code for e in errors if e.req_id == trade.order.orderId] == [161]
        assert at_ib(ib, trade.order.orderId).orderStatus.status == "Submitted"
        assert gateway.orders()[trade.order.orderId].status == "Submitted"


def test_a_refusal_of_a_code_without_a_known_text_must_say_its_text():
    with pytest.raises(ValueError, match="no IB text known for code 999"):
        Refusal(999)
    assert Refusal(999, "Order rejected - reason:custom").message == "Order rejected - reason:custom"
