"""The Executor against a scripted broker: what each kind of broker failure costs, and what it must not."""

import pytest

from actors.context import Roles
from actors.executor import Executor
from domain.audit import ActionKind
from domain.messages import Failure, PollNow, Tick
from domain.model import OrderType, Position, Side, WorkingOrder
from domain.policy import CancelOrder, Close, ConvertStop
from domain.stages import Stage
from gateways.broker import BrokerError, BrokerUnavailable, OrderNotOurs, OrderOutcomeUnknown, OrderStatus
from tests.support import executor as support
from tests.support.domain_builders import contract
from tests.support.executor import Harness, decide, event, execution, placed

CALL = contract(638, "C")
HELD = Position(CALL, 2, avg_cost=1.80)
CLOSE = Close(CALL, Side.SELL, 2, Stage.T5, "in the money at T-5", reference_mid=3.0, bid=2.95, ask=3.05)
DISCONNECTED_LINE = "not sent: broker disconnected; retried after reconnect"


@pytest.fixture
def desk(tmp_path):
    harness = Harness(Executor, tmp_path)
    yield harness
    harness.stop()


def snapshot(desk, positions=(HELD,), orders=(), executions=()):
    support.snapshot(desk, positions, orders, executions)


def attempts(desk):
    return desk.state().attempts.get(CALL, 0)


def refusals(desk, text):
    return [r for r in desk.audited() if r.success is False and text in (r.error or "")]


# --- 1. disconnected: nothing sent, nothing counted, said once, retried after the reconnect ---------
def test_while_disconnected_a_close_uses_no_attempt_tells_no_breaker_and_is_said_once(desk):
    snapshot(desk)
    desk.broker.drop()
    for _ in range(12):  # more ticks than attempts: none may be used up
        decide(desk, CLOSE)
        desk.advance(1)
    assert placed(desk) == [] and attempts(desk) == 0
    assert desk.told(Roles.CIRCUIT_BREAKER, Failure) == []
    assert len(refusals(desk, DISCONNECTED_LINE)) == 1 and len(desk.seen[Roles.NOTIFIER]) == 1
    assert not [r for r in desk.audited() if r.action is ActionKind.REJECT]

    desk.broker.reconnect(after_seconds=1)
    snapshot(desk)
    decide(desk, CLOSE)
    assert len(placed(desk)) == 1 and attempts(desk) == 1


def test_a_close_refused_by_a_drop_mid_send_is_not_an_attempt_and_goes_out_on_the_next_tick(desk):
    snapshot(desk)
    desk.broker.errors = [BrokerUnavailable("IB Gateway at 127.0.0.1:4002 not connected: order not sent")]
    decide(desk, CLOSE)
    assert attempts(desk) == 0 and desk.told(Roles.CIRCUIT_BREAKER, Failure) == []
    assert len(refusals(desk, DISCONNECTED_LINE)) == 1
    desk.advance(1)
    decide(desk, CLOSE)
    assert len(placed(desk)) == 1 and attempts(desk) == 1


def test_a_price_walk_step_waits_for_the_reconnect_without_using_attempts(desk):
    snapshot(desk)
    decide(desk, CLOSE)
    desk.broker.drop()
    for _ in range(20):
        desk.send(Tick(desk.advance(5)))  # each tick is past the walk's interval
    assert [name for name, _ in desk.broker.calls] == ["place"] and attempts(desk) == 1
    assert desk.told(Roles.CIRCUIT_BREAKER, Failure) == []
    desk.broker.reconnect()
    snapshot(desk)
    desk.send(Tick(desk.advance(5)))
    assert [name for name, _ in desk.broker.calls] == ["place", "modify_limit"] and attempts(desk) == 2


@pytest.mark.parametrize("make", [
    lambda order: ConvertStop(order, Stage.T2, "stop on an expiring contract"),
    lambda order: CancelOrder(order, Stage.T2, "opening stop"),
])
def test_a_stop_conversion_or_cancel_while_disconnected_is_retried_after_the_reconnect(desk, make):
    stop = WorkingOrder("7", CALL, Side.SELL, OrderType.STOP, 2, stop_price=1.0, order_ref="trader-stop")
    snapshot(desk, orders=(stop,))
    desk.broker.drop()
    decide(desk, make(stop))
    decide(desk, make(stop))
    assert desk.broker.calls == [] and desk.told(Roles.CIRCUIT_BREAKER, Failure) == []
    assert len(refusals(desk, DISCONNECTED_LINE)) == 1
    desk.broker.reconnect()
    snapshot(desk, orders=(stop,))
    decide(desk, make(stop))
    assert len(desk.broker.calls) == 1


def test_a_stop_the_broker_will_not_let_us_change_is_refused_once_and_trips_no_breaker(desk):
    stop = WorkingOrder("0", CALL, Side.SELL, OrderType.STOP, 2, stop_price=1.0, order_ref="trader-stop")
    snapshot(desk, orders=(stop,))
    desk.broker.errors = [OrderNotOurs("order 0 was placed by TWS/another API client")] * 3
    for _ in range(8):  # a decision every tick through T-2: more than the breaker's 5 failures
        decide(desk, ConvertStop(stop, Stage.T2, "stop on an expiring contract"))
        desk.advance(1)
    assert desk.told(Roles.CIRCUIT_BREAKER, Failure) == [] and desk.broker.calls == []
    (refused,) = [r for r in desk.audited() if r.action is ActionKind.CONVERT_STOP]
    assert refused.success is False and "TWS/another API client" in refused.error
    assert len(desk.seen[Roles.NOTIFIER]) == 1


# --- 2. outcome unknown: unresolved, never rejected; nothing new until a later snapshot settles it --
def test_an_order_of_unknown_outcome_is_not_a_reject_and_blocks_a_second_order_until_a_later_snapshot(desk):
    snapshot(desk)
    desk.broker.errors = [OrderOutcomeUnknown("IB Gateway did not answer within 10s; order outcome unknown")]
    decide(desk, CLOSE)
    assert desk.told(Roles.CIRCUIT_BREAKER, Failure) == [] and desk.metric("orders_rejected") == 0
    assert not [r for r in desk.audited() if r.action is ActionKind.REJECT]
    (unresolved,) = [r for r in desk.audited() if r.action is ActionKind.CLOSE]
    assert unresolved.success is None and "outcome unknown" in unresolved.reason
    assert desk.told(Roles.POSITION_POLLER, PollNow)[-1].reason.startswith("close outcome unknown")

    snapshot(desk)  # read in the same instant as the failure: it may predate the order
    desk.advance(1)
    decide(desk, CLOSE)
    assert placed(desk) == []

    snapshot(desk)  # read after it, and the order is not working: never placed (or filled: positions say)
    decide(desk, CLOSE)
    (request,) = placed(desk)
    assert request.order_ref.endswith("-2")  # the unknown order's reference is never reused


def test_an_order_of_unknown_outcome_found_working_is_followed_not_duplicated(desk):
    snapshot(desk)
    desk.broker.errors = [OrderOutcomeUnknown("order outcome unknown")]
    decide(desk, CLOSE)
    ref = desk.state().unresolved[CALL].own.order.order_ref
    desk.advance(1)
    working = WorkingOrder("41", CALL, Side.SELL, OrderType.LIMIT, 2, limit_price=3.0, order_ref=ref)
    snapshot(desk, orders=(working,))
    decide(desk, CLOSE)
    assert placed(desk) == [] and "41" in desk.state().own and not desk.state().unresolved


# --- 4. a synchronous refusal is a reject ----------------------------------------------------------
def test_a_refusal_at_placement_counts_as_rejected_and_as_a_failure(desk):
    snapshot(desk)
    desk.broker.errors = [BrokerError("IB refused the order: 201 Order rejected")]
    decide(desk, CLOSE)
    assert desk.metric("orders_rejected") == 1 and attempts(desk) == 1
    assert len(desk.told(Roles.CIRCUIT_BREAKER, Failure)) == 1
    assert [r.action for r in desk.audited()] == [ActionKind.REJECT]


# --- 3. never trade on a snapshot older than the connection -----------------------------------------
def test_no_order_on_a_snapshot_read_before_the_reconnect(desk):
    snapshot(desk)  # then an outage, in which the trader may have closed it by hand in TWS
    desk.broker.drop()
    desk.broker.reconnect(after_seconds=10)
    decide(desk, CLOSE)
    decide(desk, CLOSE)
    assert placed(desk) == []
    assert len(refusals(desk, "positions not read since the broker (re)connected")) == 1
    snapshot(desk, positions=())  # the fresh read: closed by hand, nothing to do
    decide(desk, CLOSE)
    assert placed(desk) == []


# --- 5. commissions ----------------------------------------------------------------------------------
def fills(desk):
    return [r for r in desk.audited() if r.action is ActionKind.FILL]


def test_a_fill_records_its_commission_net_in_the_pnl(desk):
    snapshot(desk)
    decide(desk, CLOSE)
    (request,) = placed(desk)
    desk.send(execution("1", request, 2, 3.0, desk.clock.now(), commission=1.30))
    desk.send(event("1", request, OrderStatus.FILLED, 2, desk.clock.now(), commission=1.30))
    (fill,) = fills(desk)
    assert fill.pnl_impact == pytest.approx((3.0 - 1.80) * 2 * 100 - 1.30)
    assert fill.details["commission"] == 1.30 and "commission $1.30" in fill.reason


def test_a_commission_reported_after_the_fill_is_recorded_once_against_it(desk):
    snapshot(desk)
    decide(desk, CLOSE)
    (request,) = placed(desk)
    desk.send(execution("1", request, 2, 3.0, desk.clock.now()))
    desk.send(event("1", request, OrderStatus.FILLED, 2, desk.clock.now()))
    desk.send(event("1", request, OrderStatus.FILLED, 2, desk.clock.now(), commission=1.30))
    desk.send(event("1", request, OrderStatus.FILLED, 2, desk.clock.now(), commission=1.30))  # repeated
    (first,) = fills(desk)  # the late commission is no second fill
    assert first.quantity == 2 and first.pnl_impact == pytest.approx(240.0)
    (late,) = [r for r in desk.audited() if r.action is ActionKind.COMMISSION]
    assert late.quantity is None and late.success is None and late.pnl_impact == pytest.approx(-1.30)
    assert late.details == {"commission": 1.30} and late.order_ref == request.order_ref
