"""The Executor never over-closes and always closes: lagging reads, refused changes, orders it may not touch.

Each test is one way the real broker differs from a polite one (issue 15); the broker here is scripted,
the same rules run through the actor tree against the fake IB Gateway in tests/test_run_ib_order_truth.py.
"""

import pytest

from actors.context import Roles
from actors.executor import Executor
from domain.alerts import Severity
from domain.audit import ActionKind
from domain.messages import BookUpdate, Failure, PollNow, PositionsSnapshot, Tick
from domain.model import OrderType, Position, Side, WorkingOrder
from domain.policy import Close
from domain.stages import Stage
from gateways.broker import OrderRefused, OrderStatus
from tests.support import executor as support
from tests.support.domain_builders import contract
from tests.support.executor import Harness, decide, event, execution, placed

CALL = contract(638, "C")
PUT = contract(641, "P")
HELD = Position(CALL, 2, avg_cost=1.80)
SHORT_PUT = Position(PUT, -3, avg_cost=1.10)
CLOSE = Close(CALL, Side.SELL, 2, Stage.T5, "in the money at T-5", reference_mid=3.0, bid=2.95, ask=3.05)
CLOSE_PUT = Close(PUT, Side.BUY, 3, Stage.T5, "in the money at T-5", reference_mid=2.0, bid=1.95, ask=2.05)


@pytest.fixture
def desk(tmp_path):
    harness = Harness(Executor, tmp_path)
    yield harness
    harness.stop()


def snapshot(desk, positions=(HELD,), orders=(), executions=()):
    support.snapshot(desk, positions, orders, executions)


def critical(desk):
    return [a for a in desk.seen[Roles.NOTIFIER] if a.severity is Severity.CRITICAL]


# --- never over-close ------------------------------------------------------------------------------
def test_a_read_that_lags_the_fill_sends_no_second_close(desk):
    snapshot(desk)
    decide(desk, CLOSE)
    (request,) = placed(desk)
    desk.advance(1)
    desk.send(execution("1", request, 2, 3.0, desk.clock.now()))
    desk.send(event("1", request, OrderStatus.FILLED, 2, desk.clock.now()))
    for _ in range(12):  # IB's position reads still show long 2 for 12 s
        desk.advance(1)
        snapshot(desk)
        decide(desk, CLOSE)
    assert len(placed(desk)) == 1
    (book,) = desk.told(Roles.RISK_ASSESSOR, BookUpdate)[-1:]
    assert book.book.effective_positions() == []  # the policy sees it closed too: one book, one rule


def test_a_filled_status_ahead_of_its_executions_holds_the_contract(desk):
    snapshot(desk)
    decide(desk, CLOSE)
    (request,) = placed(desk)
    desk.send(event("1", request, OrderStatus.FILLED, 2, desk.clock.now()))  # IB's status first
    desk.advance(1)
    snapshot(desk)  # a read that does not show the fill yet
    decide(desk, CLOSE)
    assert len(placed(desk)) == 1  # the order is done, its fills not in: nothing new for the contract
    assert desk.told(Roles.POSITION_POLLER, PollNow)[-1].with_executions
    desk.send(execution("1", request, 2, 3.0, desk.clock.now()))
    snapshot(desk)
    decide(desk, CLOSE)
    assert len(placed(desk)) == 1 and not desk.state().own


def test_a_refused_price_change_keeps_following_the_order_that_still_works(desk):
    snapshot(desk)
    decide(desk, CLOSE)
    (request,) = placed(desk)
    desk.send(event("1", request, OrderStatus.SUBMITTED, 0, desk.clock.now()))
    desk.send(Tick(desk.advance(5)))  # the walk asks for a new price ...
    assert [name for name, _ in desk.broker.calls] == ["place", "modify_limit"]
    refusal = "IB 201: Order rejected - reason:price change not allowed"
    desk.send(event("1", request, OrderStatus.UNKNOWN, 0, desk.clock.now(), refusal=refusal))  # ... IB refuses it
    decide(desk, CLOSE)
    assert len(placed(desk)) == 1  # ib_async said Cancelled; the order works: never a second full-size close
    listed = WorkingOrder("1", CALL, Side.SELL, OrderType.LIMIT, 2, limit_price=3.0, order_ref=request.order_ref,
                          client_id=17)
    snapshot(desk, orders=(listed,))  # IB's own open orders: still working at the old price
    own = desk.state().own["1"]
    assert not own.ambiguous and own.order.limit_price == 3.0
    assert len(desk.told(Roles.CIRCUIT_BREAKER, Failure)) == 1  # one failure of this contract, once confirmed
    desk.send(Tick(desk.advance(5)))
    assert [name for name, _ in desk.broker.calls][-1] == "modify_limit"  # the walk goes on


def test_a_refused_change_of_an_order_that_ended_meanwhile_is_no_failure(desk):
    snapshot(desk)
    decide(desk, CLOSE)
    (request,) = placed(desk)
    desk.send(event("1", request, OrderStatus.UNKNOWN, 0, desk.clock.now(), refusal="IB 104: Cannot modify a filled "
                                                                                    "order"))
    desk.send(execution("1", request, 2, 3.0, desk.clock.now()))
    desk.send(event("1", request, OrderStatus.FILLED, 2, desk.clock.now()))
    assert desk.told(Roles.CIRCUIT_BREAKER, Failure) == [] and not desk.state().own


def test_the_brokers_last_guard_sends_nothing_and_pages(desk):
    snapshot(desk)
    desk.broker.errors = [OrderRefused("CLN-... not sent: SELL 2 with 2 of ours still working exceeds +2")]
    decide(desk, CLOSE)
    assert placed(desk) == [] and desk.told(Roles.CIRCUIT_BREAKER, Failure) == []
    assert [a.title for a in critical(desk)] == [f"Order held back: it could have opened a position in {CALL.key}"]


def test_our_order_under_another_client_id_covers_the_position_and_is_never_walked_or_a_failure(desk):
    ours_before = WorkingOrder("12", CALL, Side.SELL, OrderType.LIMIT, 2, limit_price=3.2,
                               order_ref="CLN-20261125-SPY-638C-1", client_id=11, perm_id=901, modifiable=False,
                               owner="API client 11")
    for _ in range(3):
        snapshot(desk, orders=(ours_before,))
        decide(desk, CLOSE)
        desk.send(Tick(desk.advance(5)))
    assert desk.broker.calls == [] and desk.told(Roles.CIRCUIT_BREAKER, Failure) == []
    notes = [a for a in desk.seen[Roles.NOTIFIER] if "belongs to API client 11" in a.title]
    assert len(notes) == 1 and "ib_client_id" in notes[0].body


# --- always close ---------------------------------------------------------------------------------------
def test_one_contract_that_keeps_failing_is_given_up_alone_and_the_others_still_close(desk):
    snapshot(desk, positions=(HELD, SHORT_PUT))
    for _ in range(5):
        decide(desk, CLOSE)
        request = placed(desk)[-1]
        desk.send(event(str(len(desk.broker.calls)), request, OrderStatus.REJECTED, 0, desk.clock.now()))
        desk.advance(1)
    assert len(placed(desk)) == 3  # given up after max_contract_failures
    assert any(a.title == f"Giving up on {CALL.key}: close it by hand" for a in critical(desk))
    assert {f.source for f in desk.told(Roles.CIRCUIT_BREAKER, Failure)} == {CALL.key}
    decide(desk, CLOSE_PUT)
    assert placed(desk)[-1].contract == PUT  # the other position closes


def test_an_attempt_counts_only_when_a_new_price_is_sent(desk):
    snapshot(desk)
    tight = Close(CALL, Side.SELL, 2, Stage.T5, "in the money", reference_mid=3.0, bid=3.0, ask=3.0)
    decide(desk, tight)
    (request,) = placed(desk)
    desk.send(event("1", request, OrderStatus.SUBMITTED, 0, desk.clock.now()))
    for _ in range(4):  # the walk is held at the bid: the same price is no attempt
        desk.send(Tick(desk.advance(5)))
    assert [name for name, _ in desk.broker.calls] == ["place"] and desk.state().attempts[CALL] == 1


def test_no_order_until_orders_and_fills_were_read_after_a_restart(desk):
    desk.send(PositionsSnapshot((HELD,), (), desk.clock.now(), None))  # a read without the executions
    decide(desk, CLOSE)
    assert placed(desk) == [] and not [r for r in desk.audited() if r.success is False]  # held quietly
    snapshot(desk)
    decide(desk, CLOSE)
    assert len(placed(desk)) == 1


def test_a_fill_made_while_the_service_was_away_is_audited_once(desk):
    ref = "CLN-20261125-SPY-638C-1"
    from domain.model import Execution

    away = Execution("0000e1.01", "8", ref, CALL, Side.SELL, 2, 3.05, desk.clock.now(), 1.30)
    snapshot(desk, positions=(HELD,), executions=(away,))  # IB still shows long 2: it lags
    snapshot(desk, positions=(HELD,), executions=(away,))  # read again: the same execution
    fills = [r for r in desk.audited() if r.action is ActionKind.FILL]
    assert [(f.order_ref, f.quantity, f.execution_price) for f in fills] == [(ref, 2, 3.05)]
    decide(desk, CLOSE)
    assert placed(desk) == []  # the read lags that fill: nothing to close
    desk.advance(70)
    snapshot(desk, positions=(HELD,))  # long 2 again (the trader bought them back by hand, say)
    decide(desk, CLOSE)
    assert placed(desk)[-1].order_ref == "CLN-20261125-SPY-638C-2"  # ref 1 is the filled order's, never reused


def test_a_cancel_of_the_traders_order_confirmed_by_the_broker_reads_again_at_once(desk):
    from domain.policy import CancelOrder

    take_profit = WorkingOrder("-3", CALL, Side.SELL, OrderType.LIMIT, 2, limit_price=9.0, client_id=0, perm_id=55,
                               owner="TWS, bound to client id 0")
    snapshot(desk, orders=(take_profit,))
    decide(desk, CancelOrder(take_profit, Stage.T5, "trader's resting order replaced by a close"))
    polls = len(desk.told(Roles.POSITION_POLLER, PollNow))
    desk.send(event("-3", _request_for(take_profit), OrderStatus.CANCELLED, 0, desk.clock.now()))
    assert len(desk.told(Roles.POSITION_POLLER, PollNow)) == polls + 1
    snapshot(desk)  # the take-profit is gone: cancelled, confirmed, so nothing of it can fill
    decide(desk, CLOSE)
    assert placed(desk)[-1].quantity == 2


def _request_for(order: WorkingOrder):
    from gateways.broker import OrderRequest

    return OrderRequest(order.contract, order.side, order.quantity, order.order_type, order.limit_price, "")


def test_a_contract_given_up_is_tried_again_when_a_person_asks_or_resumes(desk):
    from domain.messages import ForgiveFailures

    snapshot(desk)
    for number in range(1, 4):
        decide(desk, CLOSE)
        desk.send(event(str(number), placed(desk)[-1], OrderStatus.REJECTED, 0, desk.clock.now()))
    decide(desk, CLOSE)
    assert len(placed(desk)) == 3 and CALL in desk.state().given_up
    decide(desk, Close(CALL, Side.SELL, 2, Stage.T5, "manual close requested", 3.0, 2.95, 3.05, manual=True))
    assert len(placed(desk)) == 4 and CALL not in desk.state().given_up  # ctl close: tried again
    desk.send(event("4", placed(desk)[-1], OrderStatus.REJECTED, 0, desk.clock.now()))
    assert desk.state().failures[CALL] == 1
    desk.send(ForgiveFailures())  # ctl resume
    assert CALL not in desk.state().failures
