"""OrderTracker on ib_async's own Trade and Fill objects: what is reported across a drop and a reconnect."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from ib_async import CommissionReport, Execution, Fill, Option, Order, Trade, TradeLogEntry
from ib_async import OrderStatus as IBOrderStatus
from ib_async.util import UNSET_DOUBLE

from domain.model import Execution as DomainExecution
from domain.model import OptionContract, Right, Side
from gateways.broker import OrderEvent, OrderStatus
from gateways.ib.order_tracker import OrderTracker
from runtime.clock import VirtualClock

CLIENT_ID = 17
CALL = OptionContract("SPY", Right.CALL, 638.0, date(2026, 11, 25), 501)
NOW = datetime(2026, 11, 25, 20, 55, tzinfo=UTC)


@pytest.fixture
def tracker() -> tuple[OrderTracker, list]:
    events: list = []
    tracker = OrderTracker(CLIENT_ID, VirtualClock(NOW))
    tracker.handler = events.append
    tracker.verify = lambda order_id: events.append(("verify", order_id))
    return tracker, events


def fill(order_id: int, exec_id: str, shares: int, price: float, commission: float, client_id: int = CLIENT_ID):
    execution = Execution(execId=exec_id, shares=shares, price=price, orderId=order_id, clientId=client_id)
    return Fill(Option("SPY", "20261125", 638.0, "C"), execution, CommissionReport(execId=exec_id,
                                                                                 commission=commission), NOW)


def trade(order_id: int, status: str, filled: float = 0, remaining: float = 2, client_id: int = CLIENT_ID) -> Trade:
    contract = Option("SPY", "20261125", 638.0, "C", conId=501)
    order = Order(orderId=order_id, clientId=client_id, action="SELL", totalQuantity=2, orderRef="CLN-x")
    return Trade(contract, order, IBOrderStatus(orderId=order_id, status=status, filled=filled, remaining=remaining,
                                                avgFillPrice=3.0 if filled else 0.0))


def test_a_drop_reports_every_unsettled_order_unknown_never_rejected(tracker):
    tracker, events = tracker
    tracker.placed(1, CALL, Side.SELL, 2, "CLN-a")
    tracker.placed(2, CALL, Side.SELL, 2, "CLN-b")
    tracker.on_order_status(trade(2, "Filled", filled=2, remaining=0))
    events.clear()
    tracker.connection_lost()
    assert [(e.order_id, e.status) for e in events] == [("1", OrderStatus.UNKNOWN)]  # 2 was already final


def test_an_order_gone_after_reconnect_is_filled_from_its_executions_with_their_commission(tracker):
    tracker, events = tracker
    tracker.placed(1, CALL, Side.SELL, 2, "CLN-a")
    tracker.connection_lost()
    fills = [fill(1, "e1", 1, 3.00, 0.65), fill(1, "e2", 1, 3.10, 0.65), fill(1, "x", 1, 9.0, 9.0, client_id=99)]
    tracker.settle_vanished(open_ids=set(), fills=fills)
    last = events[-1]
    assert (last.status, last.filled, last.remaining) == (OrderStatus.FILLED, 2, 0)
    assert last.commission == pytest.approx(1.30)
    assert last.message == "filled while IB's status was not seen" and last.order_ref == "CLN-a"


def test_an_order_gone_without_executions_is_cancelled_and_one_still_open_is_left_alone(tracker):
    tracker, events = tracker
    tracker.placed(1, CALL, Side.SELL, 2, "CLN-a")
    tracker.placed(2, CALL, Side.SELL, 2, "CLN-b")
    tracker.settle_vanished(open_ids={2}, fills=[])
    assert [(e.order_id, e.status, e.filled) for e in events] == [("1", OrderStatus.CANCELLED, 0)]


def test_adopting_a_live_trade_reports_it_and_tracks_its_later_status(tracker):
    tracker, events = tracker
    tracker.report(trade(7, "Submitted"))
    tracker.on_order_status(trade(7, "Filled", filled=2, remaining=0))
    assert [(e.order_id, e.status) for e in events] == [("7", OrderStatus.SUBMITTED), ("7", OrderStatus.FILLED)]
    assert events[0].contract.key == "SPY 20261125 638C" and events[0].side is Side.SELL


def test_status_of_an_unknown_order_or_another_clients_order_is_ignored(tracker):
    tracker, events = tracker
    tracker.on_order_status(trade(8, "Submitted"))  # never placed nor adopted
    tracker.placed(9, CALL, Side.SELL, 2, "CLN-a")
    tracker.on_order_status(trade(9, "Cancelled", client_id=42))
    assert events == []


def test_a_failing_handler_never_breaks_the_event_dispatch(tracker, caplog):
    tracker, _ = tracker

    def broken(event: OrderEvent) -> None:
        raise RuntimeError("receiver bug")

    tracker.handler = broken
    tracker.placed(1, CALL, Side.SELL, 2, "CLN-a")
    tracker.placed(2, CALL, Side.SELL, 2, "CLN-b")
    tracker.connection_lost()  # logged, not raised, and the next order is still reported
    failures = [r for r in caplog.records if "order event handler failed" in r.getMessage()]
    assert len(failures) == 2 and "receiver bug" in (failures[0].exc_text or "")


def test_a_commission_report_after_the_fill_is_one_more_event_with_the_orders_cumulative_commission(tracker):
    tracker, events = tracker
    tracker.placed(1, CALL, Side.SELL, 2, "CLN-a")
    filled = trade(1, "Filled", filled=2, remaining=0)
    tracker.on_order_status(filled)
    assert events[-1].commission is None  # IB sends the commission after the fill's status
    first, second = fill(1, "e1", 1, 3.0, 0.65), fill(1, "e2", 1, 3.0, 0.70)
    tracker.on_commission(filled, first, first.commissionReport)
    tracker.on_commission(filled, second, second.commissionReport)
    assert [(e.status, e.filled, e.commission) for e in events] == [
        (OrderStatus.FILLED, 2, None), (OrderStatus.FILLED, 2, 0.65), (OrderStatus.FILLED, 2, pytest.approx(1.35))]


def test_a_commission_ib_has_not_computed_or_for_another_clients_order_is_not_reported(tracker):
    tracker, events = tracker
    tracker.placed(1, CALL, Side.SELL, 2, "CLN-a")
    unset = fill(1, "e1", 2, 3.0, UNSET_DOUBLE)
    tracker.on_commission(trade(1, "Filled", filled=2, remaining=0), unset, unset.commissionReport)
    theirs = fill(1, "x1", 2, 3.0, 9.0, client_id=42)
    tracker.on_commission(trade(1, "Filled", filled=2, remaining=0, client_id=42), theirs, theirs.commissionReport)
    assert events == []


def refused(order_id: int, code: int, text: str, status: str = "Cancelled") -> Trade:
    """The Trade as ib_async leaves it after IB's error message for the order: its own inference."""
    refused = trade(order_id, status)
    refused.log.append(TradeLogEntry(NOW, status, f"Error {code}, reqId {order_id}: {text}", code))
    return refused


def test_a_refused_change_of_a_working_order_is_unknown_with_the_refusal_and_asks_ib(tracker):
    tracker, events = tracker
    tracker.placed(3, CALL, Side.SELL, 2, "CLN-a")
    tracker.on_order_status(trade(3, "Submitted"))  # IB acknowledged it
    tracker.on_order_status(refused(3, 201, "Order rejected - reason:price change not allowed"))
    unknown = events[-2]
    assert unknown.status is OrderStatus.UNKNOWN and "201" in unknown.refusal  # never CANCELLED or REJECTED
    assert events[-1] == ("verify", 3)
    listed = trade(3, "Submitted")
    tracker.confirmed_working(listed)
    assert events[-1].status is OrderStatus.SUBMITTED and tracker.working(CALL, Side.SELL) == 2


def test_a_new_order_ib_refuses_before_acknowledging_it_is_rejected(tracker):
    tracker, events = tracker
    tracker.placed(4, CALL, Side.SELL, 2, "CLN-a")
    tracker.on_order_status(refused(4, 201, "Order rejected - reason:The contract is not available for trading"))
    assert [(e.status, "201" in e.message) for e in events] == [(OrderStatus.REJECTED, True)]
    assert tracker.working(CALL, Side.SELL) == 0


def test_read_only_api_rejects_a_new_order_and_is_said(tracker):
    tracker, events = tracker
    said: list[str] = []
    tracker.read_only = said.append
    tracker.placed(5, CALL, Side.SELL, 2, "CLN-a")
    # ib_async calls 321 a warning and leaves the order as ValidationError: it is not working
    tracker.on_order_status(refused(5, 321, "Error validating request:-'bN' : cause - The API interface is "
                                            "currently in Read-Only mode.", status="ValidationError"))
    assert [e.status for e in events] == [OrderStatus.REJECTED] and said and "Read-Only" in said[0]


def test_a_warning_on_a_new_order_is_no_reject_it_may_well_be_working(tracker):
    tracker, events = tracker
    tracker.placed(6, CALL, Side.SELL, 2, "CLN-a")
    tracker.on_order_status(refused(6, 399, "Order Message: Warning: ...", status="ValidationError"))
    assert events[0].status is OrderStatus.UNKNOWN and events[-1] == ("verify", 6)


def test_executions_are_reported_once_per_exec_id_live_or_read(tracker):
    tracker, events = tracker
    tracker.placed(1, CALL, Side.SELL, 2, "CLN-a")
    working = trade(1, "Submitted")
    first = fill(1, "e1", 1, 3.0, UNSET_DOUBLE)
    tracker.on_execution(working, first)
    tracker.on_execution(working, first)  # ib_async reports a fill once, but a replay must not count twice
    read = tracker.executions([first, fill(1, "e2", 1, 3.1, 0.65), fill(2, "z", 1, 1.0, 0.0, client_id=42)])
    executions = [e for e in events if isinstance(e, DomainExecution)]
    assert [(e.exec_id, e.quantity) for e in executions] == [("e1", 1)]
    assert [e.exec_id for e in read] == ["e1", "e2"] and tracker.working(CALL, Side.SELL) == 0
