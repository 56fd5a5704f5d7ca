"""reqExecutions at the fake IB Gateway honours the ExecutionFilter the client sends, as IB does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ib_async import ExecutionFilter, LimitOrder, MarketOrder, Option

from tests.fakes.ib_gateway import FakeContract, FakeIBGateway, FakePosition, GatewayScript
from tests.fakes.ib_gateway.harness import ib_client, settle

CALL = FakeContract.option("SPY 20261127 635C")
QQQ_PUT = FakeContract.option("QQQ 20261127 500P")
START = datetime(2026, 11, 27, 20, 0, 0, tzinfo=UTC).timestamp()  # 15:00:00 US/Eastern


@pytest.fixture(scope="module")
def executions():
    """Client 17 sells a SPY call at 20:00:00 UTC and buys a QQQ put at 20:10:00; client 42 sells the call at 20:20."""
    now = [START]
    script = GatewayScript(positions=[FakePosition(CALL, 3, 250.0), FakePosition(QQQ_PUT, -1, 90.0)])
    with FakeIBGateway(script) as gateway:
        gateway.use_clock(lambda: now[0])
        with ib_client(gateway) as (ib, _):
            handle = ib.wrapper.execDetails
            ib.live_executions = []  # execDetails pushed to this client as they happened (reqId -1)

            def record(req_id, contract, execution):
                if req_id == -1:
                    ib.live_executions.append(execution)
                handle(req_id, contract, execution)

            ib.wrapper.execDetails = record
            sold = ib.placeOrder(Option(conId=CALL.con_id, exchange="SMART"), MarketOrder("SELL", 1))
            assert settle(ib, lambda: sold.orderStatus.status == "Filled")
            now[0] = START + 600
            bought = ib.placeOrder(Option(conId=QQQ_PUT.con_id, exchange="SMART"), MarketOrder("BUY", 1))
            assert settle(ib, lambda: bought.orderStatus.status == "Filled")
            now[0] = START + 1200
            theirs = gateway.place_order_as(42, CALL.key, "SELL", 1, "LMT", limit=2.0, order_ref="theirs")
            gateway.fill(theirs.order_id)
            ib.sleep(0.2)
            yield ib


def answered(ib, **filter_fields) -> list[tuple[int, str, str]]:
    fills = ib.reqExecutions(ExecutionFilter(**filter_fields))
    # ib_async hands its own Trade's contract to a fill of an order it knows: name it by conId
    symbol = {CALL.con_id: "SPY", QQQ_PUT.con_id: "QQQ"}
    return sorted((f.execution.clientId, symbol[f.contract.conId], f.execution.side) for f in fills)


ALL = [(17, "QQQ", "BOT"), (17, "SPY", "SLD"), (42, "SPY", "SLD")]


@pytest.mark.parametrize(("filter_fields", "expected"), [
    ({}, ALL),
    ({"clientId": 17}, ALL[:2]),
    ({"clientId": 42}, ALL[2:]),
    ({"side": "SELL"}, [ALL[1], ALL[2]]),
    ({"side": "BUY"}, ALL[:1]),
    ({"symbol": "QQQ"}, ALL[:1]),
    ({"secType": "STK"}, []),
    ({"acctCode": "DU1234567", "secType": "OPT"}, ALL),
    ({"acctCode": "U7654321"}, []),
    ({"time": "20261127-20:10:00"}, [ALL[0], ALL[2]]),  # UTC
    ({"time": "20261127 15:10:01 US/Eastern"}, ALL[2:]),
    ({"time": "20261127 20:20:00"}, ALL[2:]),  # no zone: the gateway's login zone (UTC)
    ({"clientId": 17, "side": "SELL", "time": "20261127-19:59:59"}, ALL[1:2]),
], ids=lambda value: str(value) if isinstance(value, dict) else "")
def test_the_filter_decides_which_executions_come_back(executions, filter_fields, expected):
    assert answered(executions, **filter_fields) == expected


def test_another_clients_fill_is_not_pushed_live(executions):
    assert [e.clientId for e in executions.live_executions] == [17, 17]


def test_a_limit_fill_of_another_client_comes_back_with_its_ref_and_time(executions):
    [theirs] = executions.reqExecutions(ExecutionFilter(clientId=42))
    assert (theirs.execution.orderRef, theirs.execution.price) == ("theirs", 2.0)
    assert theirs.execution.time == datetime.fromtimestamp(START + 1200, UTC)


def test_a_limit_order_filled_later_carries_the_clock_time_of_its_fill():
    now = [START]
    with FakeIBGateway(GatewayScript(positions=[FakePosition(CALL, 1, 250.0)])) as gateway:
        gateway.use_clock(lambda: now[0])
        with ib_client(gateway) as (ib, _):
            trade = ib.placeOrder(Option(conId=CALL.con_id, exchange="SMART"), LimitOrder("SELL", 1, 2.5))
            assert settle(ib, lambda: trade.orderStatus.status == "Submitted")
            now[0] = START + 42
            gateway.fill(trade.order.orderId)
            assert settle(ib, lambda: trade.fills != [])
            assert trade.fills[0].execution.time == datetime.fromtimestamp(START + 42, UTC)
