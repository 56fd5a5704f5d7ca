"""IBBroker end to end: the real ib_async client against the fake IB Gateway on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, date, datetime

import pytest
from ib_async import IB, Option, StopOrder

from domain.model import Execution, OptionContract, OrderType, Right, Side
from domain.order_refs import make_order_ref
from gateways.broker import (
    BrokerError,
    BrokerUnavailable,
    OrderEvent,
    OrderOutcomeUnknown,
    OrderRefused,
    OrderRequest,
    OrderStatus,
)
from gateways.ib import IBBroker, ReconnectPolicy
from gateways.ports import Connectivity
from runtime.clock import VirtualClock
from tests.fakes.ib_gateway import FakeContract, FakeIBGateway, FakeOrder, FakePosition, GatewayScript, OrderBehaviour
from tests.fakes.ib_gateway.harness import EventRecorder, settings_for

CALL_KEY = "SPY 20261127 635C"
PUT_KEY = "SPY 20261127 600P"
CALL = OptionContract("SPY", Right.CALL, 635, date(2026, 11, 27))
FAST_RECONNECT = ReconnectPolicy(initial_seconds=0.05, max_seconds=0.3, jitter_seconds=0.05)


def start(script: GatewayScript, request_timeout: float = 3) -> tuple[FakeIBGateway, IBBroker, EventRecorder, list]:
    gateway = FakeIBGateway(script).start()
    broker = IBBroker(settings_for(gateway), VirtualClock(datetime(2026, 11, 27, 20, 55, tzinfo=UTC)),
                      request_timeout=request_timeout, connect_timeout=3, reconnect=FAST_RECONNECT)
    events = EventRecorder()
    states: list = []
    broker.set_event_handler(events)
    broker.set_connection_handler(lambda state, message: states.append((state, message)))
    broker.connect()
    return gateway, broker, events, states


@pytest.fixture
def session(request):
    script = getattr(request, "param", None) or GatewayScript()
    gateway, broker, events, states = start(script)
    yield gateway, broker, events, states
    broker.disconnect()
    gateway.stop()


def holding(*positions: tuple[str, int], orders: list[FakeOrder] | None = None, **kwargs) -> GatewayScript:
    contracts = {key: FakeContract.option(key) for key, _ in positions}
    return GatewayScript(positions=[FakePosition(contracts[key], qty, 250.0) for key, qty in positions],
                         open_orders=orders or [], **kwargs)


def sell_to_close(quantity: int = 1, limit: float | None = 2.50, sequence: int = 1, position: int = 3) -> OrderRequest:
    """A close sized against a long ``position`` (what the Executor would send: the broker's last guard checks)."""
    order_type = OrderType.LIMIT if limit is not None else OrderType.MARKET
    return OrderRequest(CALL, Side.SELL, quantity, order_type, limit, make_order_ref(CALL, sequence), position)


def test_connect_reads_account_positions_and_open_orders_with_their_ref():
    put = FakeContract.option(PUT_KEY)
    stop = FakeOrder(7, put, "BUY", 2, "STP", aux_price=4.2, order_ref="CLN-20261127-SPY-600P-1")
    script = GatewayScript(positions=[FakePosition(FakeContract.option(CALL_KEY), 3, 250.0),
                                      FakePosition(put, -2, 120.0)], open_orders=[stop])
    gateway, broker, _, states = start(script)
    try:
        assert broker.is_connected() and broker.account() == "DU1234567"
        assert states[-1][0] is Connectivity.CONNECTED
        positions = {p.contract.key: p for p in broker.positions()}
        assert positions[CALL_KEY].quantity == 3 and positions[CALL_KEY].avg_cost == pytest.approx(2.50)
        assert positions[PUT_KEY].quantity == -2 and positions[PUT_KEY].contract.con_id == put.con_id
        [order] = broker.working_orders()
        assert (order.order_id, order.order_ref, order.order_type, order.stop_price, order.side) == \
            ("7", "CLN-20261127-SPY-600P-1", OrderType.STOP, 4.2, Side.BUY)
        assert (order.quantity, order.filled, order.remaining, order.limit_price) == (2, 0, 2, None)
        # The connect-time reconciliation adopted our stop by its ref and read positions after orders.
        assert [o.order_id for o in broker.last_reconciliation.adopted] == ["7"]
        names = [r.name for r in gateway.received() if r.name in ("reqAllOpenOrders", "reqExecutions",
                                                                    "reqPositions")]
        # ib_async's own position request at connect, then the reconciliation: orders, fills, positions
        assert names[:4] == ["reqPositions", "reqAllOpenOrders", "reqExecutions", "reqPositions"]
    finally:
        broker.disconnect()
        gateway.stop()


@pytest.mark.parametrize("session", [holding((CALL_KEY, 3), order_behaviours=[OrderBehaviour.fill(2.55)])],
                         indirect=True)
def test_sell_to_close_limit_is_sent_with_ref_and_account_and_reported_filled_with_commission(session):
    gateway, broker, events, _ = session
    order_id = broker.place_order(sell_to_close(3, 2.50))
    filled = events.wait_for(lambda e: isinstance(e, OrderEvent) and e.order_id == order_id
                             and e.status is OrderStatus.FILLED and e.commission is not None)
    assert (filled.filled, filled.remaining) == (3, 0)
    [execution] = [e for e in events.events if isinstance(e, Execution)]
    assert (execution.order_id, execution.quantity, execution.price) == (order_id, 3, 2.55)
    assert filled.commission == pytest.approx(1.95) and filled.order_ref == "CLN-20261127-SPY-635C-1"
    assert filled.side is Side.SELL and filled.contract.key == CALL_KEY
    [placed] = gateway.orders_sent()
    fields = placed.fields
    assert (fields[16], fields[17], fields[18], fields[19], fields[21], fields[23], fields[26]) == \
        ("SELL", "3", "LMT", "2.5", "DAY", "DU1234567", "CLN-20261127-SPY-635C-1")
    assert fields[2] == str(gateway.con_id(CALL_KEY))  # qualified: sent with IB's conId
    assert gateway.position(CALL_KEY) == 0
    assert broker.positions() == []


@pytest.mark.parametrize("session", [holding(
    (PUT_KEY, -2), orders=[FakeOrder(11, FakeContract.option(PUT_KEY), "BUY", 2, "STP", aux_price=4.2)])],
    indirect=True)
def test_a_stop_is_modified_into_a_market_order_keeping_its_id(session):
    gateway, broker, events, _ = session
    gateway.set_quote(PUT_KEY, 3.9, 4.1)
    [stop] = broker.working_orders()
    assert stop.is_stop
    broker.modify_to_market(stop)
    filled = events.wait_status("11", OrderStatus.FILLED)
    assert filled.filled == 2
    [modify] = gateway.orders_sent()
    assert (modify.fields[1], modify.fields[18]) == ("11", "MKT")
    assert gateway.orders()[11].order_type == "MKT" and len(gateway.orders()) == 1
    assert gateway.position(PUT_KEY) == 0


@pytest.mark.parametrize("session", [holding((CALL_KEY, 3))], indirect=True)
def test_a_limit_is_walked_then_cancelled(session):
    gateway, broker, events, _ = session
    order_id = broker.place_order(sell_to_close(3, 2.60))
    events.wait_status(order_id, OrderStatus.SUBMITTED)
    broker.modify_limit(order_id, 2.55)
    assert gateway.wait_for(lambda: gateway.orders()[int(order_id)].limit_price == 2.55)
    broker.cancel(order_id)
    cancelled = events.wait_status(order_id, OrderStatus.CANCELLED)
    assert cancelled.filled == 0
    assert OrderStatus.REJECTED.value not in " ".join(events.statuses(order_id))


@pytest.mark.parametrize("session", [holding((CALL_KEY, 3), order_behaviours=[
    OrderBehaviour.reject(201, "Order rejected - reason:No trading permissions")])], indirect=True)
def test_a_rejected_order_is_reported_rejected_with_ibs_reason(session):
    gateway, broker, events, _ = session
    order_id = broker.place_order(sell_to_close(1, 2.50))
    rejected = events.wait_status(order_id, OrderStatus.REJECTED)
    assert "No trading permissions" in rejected.message and rejected.filled == 0
    assert OrderStatus.CANCELLED.value not in " ".join(events.statuses(order_id))


@pytest.mark.parametrize("session", [holding((CALL_KEY, 3), order_behaviours=[OrderBehaviour.partial(1, 2.5)])],
                         indirect=True)
def test_a_partial_fill_is_reported_then_the_rest(session):
    gateway, broker, events, _ = session
    order_id = broker.place_order(sell_to_close(3, 2.50))
    partial = events.wait_status(order_id, OrderStatus.PARTIALLY_FILLED)
    assert (partial.filled, partial.remaining) == (1, 2)
    # Each execution's commission report follows its fill's status: one more event, the total so far.
    audited = events.wait_for(lambda e: e.order_id == order_id and e.commission is not None)
    assert (audited.status, audited.filled, audited.commission) == (OrderStatus.PARTIALLY_FILLED, 1, 0.65)
    gateway.fill(int(order_id), 2.45)
    done = events.wait_status(order_id, OrderStatus.FILLED)
    assert done.filled == 3
    assert [(e.quantity, e.price) for e in events.events if isinstance(e, Execution)] == [(1, 2.5), (2, 2.45)]
    total = events.wait_for(lambda e: e.order_id == order_id and e.commission == pytest.approx(1.95))
    assert (total.status, total.filled) == (OrderStatus.FILLED, 3)


@pytest.mark.parametrize("session", [holding((CALL_KEY, 3), disconnect_after="placeOrder")], indirect=True)
def test_disconnect_right_after_placing_then_reconnect_adopts_the_order_and_never_resends(session):
    gateway, broker, events, states = session
    gateway.refuse_connections(True)  # the gateway stays away until the test lets it back
    order_id = broker.place_order(sell_to_close(3, 2.50))
    events.wait_status(order_id, OrderStatus.UNKNOWN)  # in flight when the socket dropped: unknown, not rejected
    assert gateway.wait_for(lambda: Connectivity.DISCONNECTED in [s for s, _ in states])
    with pytest.raises(BrokerUnavailable, match="not connected to IB Gateway at 127.0.0.1"):
        broker.place_order(sell_to_close(3, 2.50, sequence=2))  # nothing sent: refused before the loop
    gateway.refuse_connections(False)
    assert gateway.wait_for(broker.is_connected, timeout=5)
    adopted = broker.last_reconciliation.adopted
    assert [o.order_id for o in adopted] == [order_id] and adopted[0].order_ref == "CLN-20261127-SPY-635C-1"
    assert [p.quantity for p in broker.last_reconciliation.positions] == [3]  # positions re-read
    assert len(gateway.orders_sent()) == 1  # never duplicated
    assert [s for s, _ in states][-2:] == [Connectivity.DISCONNECTED, Connectivity.CONNECTED]
    gateway.fill(int(order_id), 2.50)  # the adopted order still reports to us
    events.wait_status(order_id, OrderStatus.FILLED)
    assert broker.positions() == [] and gateway.position(CALL_KEY) == 0
    assert OrderStatus.REJECTED.value not in " ".join(events.statuses(order_id))


@pytest.mark.parametrize("session", [holding((CALL_KEY, 3), order_behaviours=[OrderBehaviour.rest()])],
                         indirect=True)
def test_a_fill_while_disconnected_is_reported_after_reconnect(session):
    gateway, broker, events, states = session
    order_id = broker.place_order(sell_to_close(3, 2.50))
    events.wait_status(order_id, OrderStatus.SUBMITTED)
    gateway.refuse_connections(True)
    gateway.drop_connections()
    events.wait_status(order_id, OrderStatus.UNKNOWN)
    gateway.fill(int(order_id), 2.50)
    gateway.refuse_connections(False)
    filled = events.wait_status(order_id, OrderStatus.FILLED, timeout=8)
    assert filled.filled == 3 and filled.commission == pytest.approx(1.95)
    assert gateway.wait_for(broker.is_connected)  # connected is declared only after reconciliation
    assert broker.last_reconciliation.positions == () and len(gateway.orders_sent()) == 1


@pytest.mark.parametrize("session", [holding((CALL_KEY, 3))], indirect=True)
def test_ib_connectivity_codes_mark_the_connection_lost_then_restored(session):
    gateway, broker, _, states = session
    gateway.send_connectivity(1100)
    assert gateway.wait_for(lambda: not broker.is_connected())
    with pytest.raises(BrokerUnavailable, match="not connected"):
        broker.place_order(sell_to_close())
    gateway.send_connectivity(1102)
    assert gateway.wait_for(broker.is_connected)
    assert [s for s, _ in states][-2:] == [Connectivity.LOST, Connectivity.CONNECTED]
    assert len(gateway.orders_sent()) == 0


@pytest.mark.parametrize("session", [holding((CALL_KEY, 3))], indirect=True)
def test_ib_code_2110_is_a_warning_that_never_leaves_the_connection_lost(session, caplog):
    gateway, broker, _, states = session
    gateway.send_connectivity(2110)  # IB documents no code that would announce its recovery
    assert [p.quantity for p in broker.positions()] == [3]  # answered after the 2110: it was seen
    assert "IB code 2110" in caplog.text and broker.is_connected()
    assert Connectivity.LOST not in [s for s, _ in states]


def test_a_restored_code_while_connecting_never_declares_connected_before_the_connects_own_sync(caplog):
    # IB Gateway just back from its nightly restart tells a new client its server link is restored:
    # that sync races the connect's own, and only the connect may declare the connection usable.
    gateway, broker, _, states = start(holding((CALL_KEY, 3), codes_on_connect=[1102]))
    try:
        assert broker.is_connected() and [p.quantity for p in broker.positions()] == [3]
        assert [(s, m.split(",")[0]) for s, m in states] == \
            [(Connectivity.CONNECTED, f"connected to IB Gateway at {broker.address}")]
        assert "Task exception was never retrieved" not in caplog.text
    finally:
        broker.disconnect()
        gateway.stop()


@pytest.mark.parametrize("session", [holding((CALL_KEY, 300))], indirect=True)
def test_a_burst_of_requests_never_exceeds_50_messages_in_any_second(session):
    gateway, broker, events, _ = session
    order_id = broker.place_order(sell_to_close(300, 9.00, position=300))
    before = broker.messages_sent()
    for step in range(90):  # an emergency-style burst: walk a limit 90 times as fast as possible
        broker.modify_limit(order_id, round(9.00 - step * 0.01, 2))
    assert gateway.wait_for(lambda: len(gateway.orders_sent()) == 91)
    worst = gateway.max_messages_in_any_second()
    print(f"\nIB API messages sent: {broker.messages_sent()} (burst {broker.messages_sent() - before}); "
          f"gateway received {len(gateway.received())}; most in any one second: {worst}")
    assert worst <= 50
    assert broker.messages_sent() == len(gateway.received())


def test_started_before_the_gateway_it_keeps_trying_and_connects_when_the_gateway_comes_up():
    gateway = FakeIBGateway(holding((CALL_KEY, 3))).start()
    gateway.refuse_connections(True)  # IB Gateway not up yet (or restarting)
    broker = IBBroker(settings_for(gateway), VirtualClock(datetime(2026, 11, 27, 20, 0, tzinfo=UTC)),
                      request_timeout=3, connect_timeout=3, reconnect=FAST_RECONNECT)
    states: list = []
    broker.set_connection_handler(lambda state, message: states.append((state, message)))
    try:
        broker.connect_in_background()
        assert not gateway.wait_for(broker.is_connected, timeout=0.5)
        assert states[0][0] is Connectivity.DISCONNECTED and "127.0.0.1" in states[0][1]
        gateway.refuse_connections(False)
        assert gateway.wait_for(broker.is_connected, timeout=5)
        assert [p.quantity for p in broker.positions()] == [3]
    finally:
        broker.disconnect()
        gateway.stop()


# --- what is refused, and how an order's outcome is reported when it cannot be confirmed ----------

def test_an_order_the_loop_could_not_send_in_time_is_outcome_unknown_not_a_failure():
    gateway, broker, _, _ = start(holding((CALL_KEY, 3)), request_timeout=0.5)
    busy, release = threading.Event(), threading.Event()

    def slow_receiver(event: OrderEvent) -> None:  # a receiver that holds the broker's loop thread
        busy.set()
        release.wait(5)

    try:
        broker.set_event_handler(slow_receiver)
        broker.place_order(sell_to_close(1, 2.50))
        assert busy.wait(5)
        with pytest.raises(OrderOutcomeUnknown) as error:
            broker.place_order(sell_to_close(1, 2.50, sequence=2))
        message = str(error.value)
        assert "\n" not in message and "127.0.0.1" in message and "CLN-20261127-SPY-635C-2" in message
        assert message.endswith("check working orders; it is settled at the next reconciliation")
    finally:
        release.set()
        broker.disconnect()
        gateway.stop()


def test_an_order_for_a_position_the_gateway_never_read_is_held_back_by_the_last_guard(session):
    gateway, broker, _, _ = session
    unknown = OptionContract("QQQX", Right.CALL, 1, date(2026, 11, 27))
    with pytest.raises(OrderRefused, match="no position to close") as error:
        broker.place_order(OrderRequest(unknown, Side.SELL, 1, OrderType.LIMIT, 1.0, make_order_ref(unknown, 1),
                                        position=1))
    assert "\n" not in str(error.value) and len(gateway.orders_sent()) == 0


@pytest.mark.parametrize("session", [holding((CALL_KEY, 3))], indirect=True)
def test_the_last_guard_counts_our_orders_that_may_still_work(session):
    gateway, broker, events, _ = session
    first = broker.place_order(sell_to_close(2, 2.50))
    events.wait_status(first, OrderStatus.SUBMITTED)
    with pytest.raises(OrderRefused, match="with 2 of ours still working"):
        broker.place_order(sell_to_close(2, 2.50, sequence=2))  # 2 + 2 would sell more than the 3 held
    assert len(gateway.orders_sent()) == 1


PUT = FakeContract.option(PUT_KEY)


@pytest.mark.parametrize(("client_id", "seen_id"), [(0, "0"), (42, "11")], ids=["tws-manual", "other-api-client"])
def test_a_stop_placed_by_tws_or_another_client_is_never_modified_nor_sent_again(client_id, seen_id):
    stop = FakeOrder(11, PUT, "BUY", 2, "STP", aux_price=4.2, client_id=client_id)
    gateway, broker, _, _ = start(holding((PUT_KEY, -2), orders=[stop]))
    try:
        [seen] = broker.working_orders()
        assert seen.order_id == seen_id and seen.is_stop
        with pytest.raises(BrokerError) as error:
            broker.modify_to_market(seen)
        assert str(error.value) == (
            f"order {seen_id} was placed by TWS/another API client; IB only lets its own client modify it: "
            "convert it by hand or run with ib_client_id 0, see docs/ib.md")
        with pytest.raises(BrokerError, match="another API client"):
            broker.cancel(seen_id)
        assert len(gateway.orders_sent()) == 0 and gateway.count("cancelOrder") == 0  # no second order
        assert gateway.orders()[11].order_type == "STP" and gateway.position(PUT_KEY) == -2
    finally:
        broker.disconnect()
        gateway.stop()


def test_the_fake_gateway_refuses_a_modify_sent_by_another_client_like_ib():
    stop = FakeOrder(11, PUT, "BUY", 2, "STP", aux_price=4.2, client_id=42)
    with FakeIBGateway(holding((PUT_KEY, -2), orders=[stop])) as gateway:
        ib = IB()
        ib.connect("127.0.0.1", gateway.port, clientId=17, timeout=3)
        try:
            contract = Option(conId=PUT.con_id, exchange="SMART")
            trade = ib.placeOrder(contract, StopOrder("BUY", 2, 4.0, orderId=11))
            ib.sleep(0.3)
            assert [entry.errorCode for entry in trade.log if entry.errorCode] == [103]  # duplicate order id
            assert gateway.orders()[11].aux_price == 4.2 and gateway.orders()[11].client_id == 42
        finally:
            ib.disconnect()


def test_connect_to_an_account_the_login_does_not_manage_drops_the_socket_and_says_so_in_one_line():
    gateway = FakeIBGateway(holding((CALL_KEY, 3))).start()
    broker = IBBroker(settings_for(gateway, ib_account="U7654321"), VirtualClock(datetime(2026, 11, 27, tzinfo=UTC)),
                      request_timeout=1, connect_timeout=3)
    try:
        with pytest.raises(BrokerError, match="IB account U7654321 is not managed by this login") as error:
            broker.connect()
        assert "\n" not in str(error.value)
        assert gateway.wait_for(lambda: gateway.connected_clients == 0) and not broker.is_connected()
    finally:
        broker.disconnect()
        gateway.stop()


def test_a_gateway_that_never_answers_the_start_up_sync_is_one_broker_error_line_and_no_socket_left():
    gateway = FakeIBGateway(holding((CALL_KEY, 3), unanswered=frozenset({"reqAllOpenOrders"}))).start()
    broker = IBBroker(settings_for(gateway), VirtualClock(datetime(2026, 11, 27, tzinfo=UTC)),
                      request_timeout=0.5, connect_timeout=3)
    try:
        with pytest.raises(BrokerError) as error:
            broker.connect()
        assert str(error.value) == (f"IB Gateway at {broker.address} did not answer the start-up sync of orders "
                                    "and positions within 0.5s; disconnected, nothing was traded")
        assert gateway.wait_for(lambda: gateway.connected_clients == 0) and not broker.is_connected()
    finally:
        broker.disconnect()
        gateway.stop()


@pytest.mark.parametrize("session", [holding((CALL_KEY, 3))], indirect=True)
def test_reads_made_at_once_each_get_their_own_answer(session):
    # ib_async keeps one pending request per kind: a second positions request while one is pending replaces
    # its future, and the first is never answered. Reads are made one at a time (IBBroker._read).
    gateway, broker, _, _ = session
    ib = broker.connected_ib()

    async def four_at_once() -> list:
        return list(await asyncio.gather(*[broker._read(ib.reqPositionsAsync) for _ in range(4)]))

    answers = broker.run_paced(four_at_once, "positions not read")
    assert [[p.position for p in answer] for answer in answers] == [[3]] * 4
