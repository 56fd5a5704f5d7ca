"""The fake IB Gateway takes combo (BAG) orders from the real ib_async client as IB does: one order with legs,
filled whole, an execution per leg and one for the BAG itself, openOrder with its combo legs, modify and cancel."""

from __future__ import annotations

from ib_async import ComboLeg, Contract, LimitOrder, MarketOrder

from tests.fakes.ib_gateway import FakeContract, FakeIBGateway, FakePosition, GatewayScript
from tests.fakes.ib_gateway.contracts import BAG_CON_ID
from tests.fakes.ib_gateway.harness import ib_client, settle

LONG, SHORT = FakeContract.option("SPY 20261127 595C"), FakeContract.option("SPY 20261127 600C")


def script(**kwargs: object) -> GatewayScript:
    return GatewayScript(positions=[FakePosition(LONG, 2, 700.0), FakePosition(SHORT, -2, 350.0)], **kwargs)


def bag() -> Contract:
    return Contract(secType="BAG", symbol="SPY", currency="USD", exchange="SMART",
                    comboLegs=[ComboLeg(conId=LONG.con_id, ratio=1, action="SELL", exchange="SMART"),
                               ComboLeg(conId=SHORT.con_id, ratio=1, action="BUY", exchange="SMART")])


def quoted(gateway: FakeIBGateway) -> None:
    gateway.set_quote(LONG.key, 6.00, 6.20)
    gateway.set_quote(SHORT.key, 2.90, 3.10)


def test_a_marketable_combo_fills_whole_with_an_execution_per_leg_and_one_for_the_bag():
    with FakeIBGateway(script()) as gateway, ib_client(gateway) as (ib, _):
        quoted(gateway)
        trade = ib.placeOrder(bag(), LimitOrder("BUY", 2, -3.0, orderRef="combo"))
        assert settle(ib, lambda: trade.orderStatus.status == "Filled" and len(trade.fills) == 3)
        assert (trade.orderStatus.filled, trade.orderStatus.remaining) == (2, 0)
        fills = {f.contract.conId: f for f in trade.fills}
        assert fills.keys() == {LONG.con_id, SHORT.con_id, BAG_CON_ID}
        assert (fills[LONG.con_id].execution.side, fills[LONG.con_id].execution.shares,
                fills[LONG.con_id].execution.price) == ("SLD", 2, 6.05)
        assert (fills[SHORT.con_id].execution.side, fills[SHORT.con_id].execution.price) == ("BOT", 3.05)
        assert fills[BAG_CON_ID].contract.secType == "BAG" and fills[BAG_CON_ID].execution.shares == 2
        assert fills[BAG_CON_ID].execution.price == -3.0
        assert {f.execution.orderRef for f in trade.fills} == {"combo"}
        assert (gateway.position(LONG.key), gateway.position(SHORT.key)) == (0, 0)
        assert len(ib.reqExecutions()) == 3  # IB lists the BAG's own execution too


def test_a_resting_combo_is_read_back_with_its_legs_then_modified_and_cancelled():
    with FakeIBGateway(script()) as gateway:
        quoted(gateway)
        with ib_client(gateway) as (ib, _):
            trade = ib.placeOrder(bag(), LimitOrder("BUY", 2, -3.10))
            assert settle(ib, lambda: trade.orderStatus.status == "Submitted")
            order_id = trade.order.orderId
        with ib_client(gateway, client_id=18) as (other, _):
            [listed] = other.reqAllOpenOrders()
            assert (listed.contract.secType, listed.contract.conId, listed.order.lmtPrice) == ("BAG", BAG_CON_ID, -3.1)
            assert [(leg.conId, leg.ratio, leg.action) for leg in listed.contract.comboLegs] == \
                [(LONG.con_id, 1, "SELL"), (SHORT.con_id, 1, "BUY")]
        with ib_client(gateway) as (ib, _):
            [mine] = [t for t in ib.reqAllOpenOrders() if t.order.orderId == order_id]
            mine.order.lmtPrice = -3.05
            ib.placeOrder(mine.contract, mine.order)  # the same id: a modification, still not marketable
            assert gateway.wait_for(lambda: gateway.orders()[order_id].limit_price == -3.05)
            ib.cancelOrder(mine.order)
            assert gateway.wait_for(lambda: gateway.orders()[order_id].status == "Cancelled")
        assert (gateway.position(LONG.key), gateway.position(SHORT.key)) == (2, -2)


def test_a_resting_combo_fills_when_the_quotes_come_to_it_and_positions_lag_per_leg():
    now = [1_800_000_000.0]
    with FakeIBGateway(script(position_lag_seconds=5)) as gateway, ib_client(gateway) as (ib, _):
        gateway.use_clock(lambda: now[0])
        quoted(gateway)
        trade = ib.placeOrder(bag(), MarketOrder("BUY", 1))
        assert settle(ib, lambda: trade.orderStatus.status == "Filled")
        assert (gateway.position(LONG.key), gateway.position(SHORT.key)) == (1, -1)
        assert (gateway.reported_position(LONG.key), gateway.reported_position(SHORT.key)) == (2, -2)
        now[0] += 5
        assert (gateway.reported_position(LONG.key), gateway.reported_position(SHORT.key)) == (1, -1)
        resting = ib.placeOrder(bag(), LimitOrder("BUY", 1, -3.10))
        assert settle(ib, lambda: resting.orderStatus.status == "Submitted")
        gateway.set_quote(LONG.key, 6.10, 6.30)  # the 595C's line is now 6.15: a net of -3.10
        assert settle(ib, lambda: resting.orderStatus.status == "Filled")


def test_refuse_combos_answers_201_and_cancels():
    with FakeIBGateway(script(refuse_combos=True)) as gateway, ib_client(gateway) as (ib, errors):
        quoted(gateway)
        trade = ib.placeOrder(bag(), LimitOrder("BUY", 1, -3.0))
        assert settle(ib, lambda: trade.orderStatus.status == "Cancelled")
        assert [e.code for e in errors if e.req_id == trade.order.orderId] == [201]
        assert (gateway.position(LONG.key), gateway.position(SHORT.key)) == (2, -2)
