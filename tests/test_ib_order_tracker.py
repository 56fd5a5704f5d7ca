"""OrderTracker on ib_async's own Trade and Fill objects: what is reported across a drop and a reconnect."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from ib_async import CommissionReport, Execution, Fill, Option, Order, Trade
from ib_async import OrderStatus as IBOrderStatus
from ib_async.util import UNSET_DOUBLE

from domain.model import OptionContract, Right, Side
from gateways.broker import OrderEvent, OrderStatus
from gateways.ib.order_tracker import OrderTracker
from runtime.clock import VirtualClock

CLIENT_ID = 17
CALL = OptionContract("SPY", Right.CALL, 638.0, date(2026, 11, 25), 501)
NOW = datetime(2026, 11, 25, 20, 55, tzinfo=UTC)


@pytest.fixture
def tracker() -> tuple[OrderTracker, list[OrderEvent]]:
    events: list[OrderEvent] = []
    tracker = OrderTracker(CLIENT_ID, VirtualClock(NOW))
    tracker.handler = events.append
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


def test_an_order_gone_after_reconnect_is_filled_from_its_executions_with_average_and_commission(tracker):
    tracker, events = tracker
    tracker.placed(1, CALL, Side.SELL, 2, "CLN-a")
    tracker.connection_lost()
    fills = [fill(1, "e1", 1, 3.00, 0.65), fill(1, "e2", 1, 3.10, 0.65), fill(1, "x", 1, 9.0, 9.0, client_id=99)]
    tracker.settle_vanished(open_ids=set(), fills=fills)
    last = events[-1]
    assert (last.status, last.filled, last.remaining) == (OrderStatus.FILLED, 2, 0)
    assert last.avg_fill_price == pytest.approx(3.05) and last.commission == pytest.approx(1.30)
    assert last.message == "filled while disconnected" and last.order_ref == "CLN-a"


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
