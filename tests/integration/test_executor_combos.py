"""The Executor's combo orders against a scripted broker (actors/executor_combos.py)."""

from dataclasses import replace
from datetime import timedelta

import pytest

from actors.executor import Executor
from domain.audit import ActionKind
from domain.messages import Tick
from domain.model import Execution, OrderType, Position, Side
from domain.policy import Close, CloseCombo
from domain.stages import Stage
from domain.structures import group_structures
from gateways.broker import ComboRefused, OrderEvent, OrderOutcomeUnknown, OrderStatus
from tests.support import executor as support
from tests.support.domain_builders import contract
from tests.support.executor import Harness, combos_placed, decide, placed

C595, C600 = contract(595, "C"), contract(600, "C")
HELD = (Position(C595, 5, avg_cost=2.0), Position(C600, -5, avg_cost=0.8))
(SPREAD,) = group_structures(HELD)
SELL_595 = Close(C595, Side.SELL, 5, Stage.T5, "in the money", reference_mid=3.10, bid=3.00, ask=3.20)
BUY_600 = Close(C600, Side.BUY, 5, Stage.T5, "closed with its structure", reference_mid=1.00, bid=0.95, ask=1.05)
COMBO = CloseCombo(SPREAD, (SELL_595, BUY_600), 5, Stage.T5, "a long leg to close: closed as one combo order")


@pytest.fixture
def desk(tmp_path):
    harness = Harness(Executor, tmp_path)
    support.snapshot(harness, HELD)
    yield harness
    harness.stop()


def leg_fill(order_id, contract, side, quantity, price, at, exec_id):
    return Execution(exec_id, order_id, "ref", contract, side, quantity, price, at)


def test_a_combo_goes_out_as_one_order_at_the_net_of_its_legs_mids(desk):
    decide(desk, COMBO)
    (request,) = combos_placed(desk)
    assert not placed(desk)
    assert request.quantity == 5 and request.order_type is OrderType.LIMIT
    assert request.limit_price == pytest.approx(-2.10)  # sell 3.10, buy 1.00: a credit
    assert [(leg.contract, leg.side, leg.ratio, leg.position) for leg in request.legs] == [
        (C595, Side.SELL, 1, 5), (C600, Side.BUY, 1, -5)]
    decide(desk, COMBO)  # working: never a second order for its legs
    decide(desk, SELL_595)
    assert len(combos_placed(desk)) == 1 and not placed(desk)


def test_its_legs_fill_as_executions_and_it_ends_only_when_every_leg_is_in(desk):
    decide(desk, COMBO)
    (request,) = combos_placed(desk)
    at = desk.clock.now()
    ref = request.order_ref
    desk.send(OrderEvent("1", ref, C595, Side.BUY, OrderStatus.FILLED, 5, 0, at))
    desk.send(replace(leg_fill("1", C595, Side.SELL, 5, 3.05, at, "x1"), order_ref=ref))
    assert desk.state().combos.working  # the 600C's execution is still to come
    desk.send(replace(leg_fill("1", C600, Side.BUY, 5, 1.05, at, "x2"), order_ref=ref))
    assert not desk.state().combos.working
    fills = [r for r in desk.audited() if r.action is ActionKind.FILL]
    assert sorted((r.strike, r.quantity) for r in fills) == [(595, 5), (600, 5)]
    book = {p.contract: p.quantity for p in desk.state().book.effective_positions()}
    assert book.get(C595, 0) == 0 and book.get(C600, 0) == 0


def test_a_combo_the_broker_refuses_is_closed_short_leg_first(desk):
    desk.broker.errors.append(ComboRefused("no combo routing for SPY"))
    decide(desk, COMBO)
    assert [(r.contract, r.side) for r in placed(desk)] == [(C600, Side.BUY)]  # never the long first
    assert SPREAD.name in desk.state().combos.refused
    assert any("refused the combo" in r.reason for r in desk.audited())


def test_a_refusal_reported_later_makes_the_next_pass_go_short_leg_first(desk):
    decide(desk, COMBO)
    (request,) = combos_placed(desk)
    desk.send(OrderEvent("1", request.order_ref, C595, Side.BUY, OrderStatus.REJECTED, 0, 5, desk.clock.now(),
                         message="combo refused: IB does not route this combo"))
    assert desk.metric("order_rejected") == 0 and not desk.state().failures
    decide(desk, COMBO)
    assert [(r.contract, r.side) for r in placed(desk)] == [(C600, Side.BUY)]


def test_the_net_limit_walks_then_goes_to_market_in_the_last_call(desk):
    decide(desk, COMBO)
    desk.send(Tick(desk.advance(6)))
    ((_, (order_id, net)),) = [c for c in desk.broker.calls if c[0] == "modify_limit"]
    assert order_id == "1" and net > -2.10  # conceding on the legs: a smaller credit
    desk.clock.set(desk.ctx.session.close - timedelta(seconds=20))
    desk.send(Tick(desk.clock.now()))
    assert [c for c in desk.broker.calls if c[0] == "modify_to_market"]


def test_an_unknown_outcome_blocks_every_leg_until_a_read_of_orders_and_fills(desk):
    desk.broker.errors.append(OrderOutcomeUnknown("timeout"))
    decide(desk, COMBO)
    decide(desk, BUY_600)
    assert not placed(desk)
    desk.advance(1)
    support.snapshot(desk, HELD)  # a later read of orders and fills that shows neither
    decide(desk, BUY_600)
    assert [(r.contract, r.side) for r in placed(desk)] == [(C600, Side.BUY)]


def test_a_combos_walk_uses_its_own_attempts_not_its_legs_contracts(desk):
    decide(desk, COMBO)
    for _ in range(6):
        desk.send(Tick(desk.advance(6)))
    (combo,) = desk.state().combos.working.values()
    assert combo.used == 7 and not desk.state().attempts  # a split position's single part keeps all of its own
