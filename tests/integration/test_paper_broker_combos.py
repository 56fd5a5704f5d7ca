"""The paper broker's combo orders: one order on several legs, filled whole or not at all by the shared
combo fill model (``domain.execution.combo_fill``), reported as the broker interface says (events in units
naming the first leg, one execution per leg in contracts), guarded leg by leg, settled leg by leg."""

from __future__ import annotations

from datetime import datetime

import pytest

from domain.execution import ComboLegQuote, combo_fill, combo_net, commission
from domain.model import Execution, OptionContract, OrderType, Position, Right, Side, WorkingOrder
from domain.session import EASTERN
from domain.settlement import Outcome
from gateways.broker import (
    ComboLegRequest,
    ComboRefused,
    ComboRequest,
    OrderEvent,
    OrderRefused,
    OrderRequest,
    OrderStatus,
)
from gateways.paper_broker import PaperBroker
from gateways.sim_market import SimulatedMarket, SpotScript
from runtime.clock import VirtualClock
from tests.support.ib_tree import DAY, SESSION

START = datetime(2026, 11, 25, 15, 50, tzinfo=EASTERN)
LONG = OptionContract("SPY", Right.CALL, 638.0, DAY)
SHORT = OptionContract("SPY", Right.CALL, 642.0, DAY)
WING_LOW = OptionContract("SPY", Right.PUT, 636.0, DAY)
BODY = OptionContract("SPY", Right.PUT, 640.0, DAY)
WING_HIGH = OptionContract("SPY", Right.PUT, 644.0, DAY)
REF = "CLN-20261125-SPY-638C+642C-1"


def _broker(positions, *, spot: float = 640.0, after_hours: float = 0.0, **options) -> tuple[PaperBroker, list]:
    clock = VirtualClock(START)
    market = SimulatedMarket(SpotScript(spot, vol=0.0001, seed=1, after_hours=after_hours), SESSION, clock, START)
    broker = PaperBroker(market, clock, positions, **options)
    events: list = []
    broker.set_event_handler(events.append)
    return broker, events


def _vertical(units: int = 3) -> list[Position]:
    return [Position(LONG, units, 2.0), Position(SHORT, -units, 0.5)]


def _close_vertical(units: int, order_type: OrderType = OrderType.MARKET, net: float | None = None,
                    positions: tuple[int, int] | None = None) -> ComboRequest:
    long_held, short_held = positions or (units, -units)
    legs = (ComboLegRequest(LONG, Side.SELL, 1, long_held), ComboLegRequest(SHORT, Side.BUY, 1, short_held))
    return ComboRequest(legs, units, order_type, net, REF)


def _step(broker: PaperBroker, seconds: int = 1) -> None:
    clock = broker.clock
    assert isinstance(clock, VirtualClock)
    for _ in range(seconds):
        clock.advance(1.0)
        broker.process(clock.now())


def _quotes(broker: PaperBroker, legs: tuple[tuple[OptionContract, Side, int], ...]) -> tuple[ComboLegQuote, ...]:
    now = broker.clock.now()
    return tuple(ComboLegQuote(side, ratio, *broker.market.option_book(contract, now))
                 for contract, side, ratio in legs)


def test_a_market_combo_fills_every_leg_at_once_after_the_fill_delay():
    broker, events = _broker(_vertical(3))
    order_id = broker.place_combo(_close_vertical(3))
    broker.process(broker.clock.now())  # placed this second: not due yet
    assert [type(e) for e in events] == [OrderEvent]
    assert events[0].status is OrderStatus.SUBMITTED and events[0].contract == LONG and events[0].remaining == 3
    expected = combo_fill(_quotes(broker, ((LONG, Side.SELL, 1), (SHORT, Side.BUY, 1))), None)
    _step(broker)
    executions = [e for e in events if isinstance(e, Execution)]
    assert [(e.contract, e.side, e.quantity) for e in executions] == [(LONG, Side.SELL, 3), (SHORT, Side.BUY, 3)]
    assert {e.order_id for e in executions} == {order_id} and {e.order_ref for e in executions} == {REF}
    assert len({e.exec_id for e in executions}) == 2
    assert expected is not None and tuple(e.price for e in executions) == expected
    assert all(e.commission == commission(3) for e in executions)  # per contract, per leg
    filled = events[-1]
    assert isinstance(filled, OrderEvent) and filled.status is OrderStatus.FILLED
    assert (filled.order_id, filled.contract, filled.side, filled.filled, filled.remaining) == \
        (order_id, LONG, Side.SELL, 3, 0)  # units, naming the first leg
    assert filled.commission == pytest.approx(2 * commission(3))
    assert broker.positions() == [] and broker.working_orders() == []
    assert broker.executions() == executions


def test_a_working_combo_is_listed_once_per_leg_in_contracts():
    broker, _ = _broker([Position(WING_LOW, 2), Position(BODY, -4), Position(WING_HIGH, 2)])
    request = ComboRequest((ComboLegRequest(BODY, Side.BUY, 2, -4), ComboLegRequest(WING_LOW, Side.SELL, 1, 2),
                            ComboLegRequest(WING_HIGH, Side.SELL, 1, 2)), 2, OrderType.LIMIT, -5.0,
                           "CLN-20261125-SPY-636P+640P+644P-1")
    order_id = broker.place_combo(request)
    _step(broker, 3)  # a credit of $5 a unit for a butterfly worth less: it never fills
    listed = broker.working_orders()
    assert [(o.order_id, o.contract, o.side, o.quantity, o.limit_price, o.combo) for o in listed] == [
        (order_id, BODY, Side.BUY, 4, -5.0, True), (order_id, WING_LOW, Side.SELL, 2, -5.0, True),
        (order_id, WING_HIGH, Side.SELL, 2, -5.0, True)]
    assert all(o.order_ref == request.order_ref and o.order_type is OrderType.LIMIT for o in listed)


def test_a_limit_combo_fills_whole_only_once_its_net_is_reached_and_at_that_net():
    broker, events = _broker(_vertical(2))
    legs = ((LONG, Side.SELL, 1), (SHORT, Side.BUY, 1))
    lines = _quotes(broker, legs)
    mids = combo_net((q.side, q.ratio, q.mid) for q in lines)
    order_id = broker.place_combo(_close_vertical(2, OrderType.LIMIT, round(mids - 0.50, 2)))  # a credit beyond mid
    _step(broker, 5)
    assert not any(isinstance(e, Execution) for e in events)
    assert {o.contract for o in broker.working_orders()} == {LONG, SHORT}
    assert {p.contract: p.quantity for p in broker.positions()} == {LONG: 2, SHORT: -2}  # not one leg alone
    net = round(mids + 0.30, 2)  # a smaller credit: past the fill lines
    broker.modify_limit(order_id, net)
    broker.process(broker.clock.now())  # modified this second: the fill delay starts again
    assert not any(isinstance(e, Execution) for e in events)
    _step(broker)
    executions = [e for e in events if isinstance(e, Execution)]
    assert [e.contract for e in executions] == [LONG, SHORT]
    assert combo_net((e.side, 1, e.price) for e in executions) == pytest.approx(net)
    assert events[-1].status is OrderStatus.FILLED and broker.positions() == []


def test_a_limit_combo_turned_to_market_fills_at_the_far_touches():
    broker, events = _broker(_vertical(1))
    order_id = broker.place_combo(_close_vertical(1, OrderType.LIMIT, -9.0))
    _step(broker, 2)
    (head, *_) = broker.working_orders()
    broker.modify_to_market(head)
    _step(broker)
    books = {c: broker.market.option_book(c, broker.clock.now()) for c in (LONG, SHORT)}
    prices = {e.contract: e.price for e in events if isinstance(e, Execution)}
    assert prices == {LONG: books[LONG][0], SHORT: books[SHORT][2]}
    assert events[-1].order_id == order_id and events[-1].status is OrderStatus.FILLED


def test_the_last_guard_checks_every_leg():
    broker, _ = _broker(_vertical(2))
    with pytest.raises(OrderRefused, match="642C"):  # the short leg holds 2, the combo would buy 3
        broker.place_combo(_close_vertical(3, positions=(3, -2)))
    broker.place_order(OrderRequest(SHORT, Side.BUY, 1, OrderType.LIMIT, 0.01, "CLN-20261125-SPY-642C-1", -2))
    with pytest.raises(OrderRefused, match="with 1 of ours still working"):
        broker.place_combo(_close_vertical(2))
    broker.place_combo(_close_vertical(1, positions=(2, -2)))  # with the single order: 2 of 2 on the short leg
    with pytest.raises(OrderRefused):  # a working combo's legs count against later orders too
        broker.place_order(OrderRequest(LONG, Side.SELL, 2, OrderType.LIMIT, 9.0, "CLN-20261125-SPY-638C-1", 2))
    assert len(broker.placed_combos) == 1


def test_a_broker_refusing_combos_sends_nothing():
    broker, events = _broker(_vertical(1), refuse_combos=True)
    with pytest.raises(ComboRefused):
        broker.place_combo(_close_vertical(1))
    broker.process(broker.clock.now())
    assert broker.placed_combos == [] and broker.working_orders() == [] and events == []


def test_rejected_and_cancelled_combos_leave_every_leg_as_it_was():
    broker, events = _broker(_vertical(1))
    broker.inject_rejects(1)
    broker.place_combo(_close_vertical(1))
    broker.process(broker.clock.now())  # events are delivered as the broker processes
    assert events[-1].status is OrderStatus.REJECTED and broker.working_orders() == []
    order_id = broker.place_combo(_close_vertical(1, OrderType.LIMIT, -9.0))
    broker.cancel(order_id)
    _step(broker, 2)
    assert events[-1].status is OrderStatus.CANCELLED and events[-1].order_id == order_id
    assert not any(isinstance(e, Execution) for e in events)
    assert {p.contract: p.quantity for p in broker.positions()} == {LONG: 1, SHORT: -1}


def test_no_fills_while_the_broker_holds_them_back_then_all_legs():
    broker, events = _broker(_vertical(1))
    broker.inject_no_fills(3)
    broker.place_combo(_close_vertical(1))
    _step(broker, 2)
    assert not any(isinstance(e, Execution) for e in events)
    _step(broker, 2)
    assert [e.contract for e in events if isinstance(e, Execution)] == [LONG, SHORT]


def test_legs_left_open_settle_leg_by_leg_and_the_combo_expires():
    # SPY at 640 at the close, 643 after hours: the long 638C is exercised, the short 642C assigned late
    broker, _ = _broker(_vertical(2), after_hours=3.0)
    broker.place_combo(_close_vertical(2, OrderType.LIMIT, -9.0))  # never fills
    clock = broker.clock
    assert isinstance(clock, VirtualClock)
    clock.advance((SESSION.close - clock.now()).total_seconds())
    broker.process(clock.now())
    assert broker.settle() == {LONG.key: Outcome.EXERCISED, SHORT.key: Outcome.ASSIGNED}
    assert broker.working_orders() == []


def test_a_combo_order_is_a_working_order_of_ours_for_the_book():
    broker, _ = _broker(_vertical(1))
    broker.place_combo(_close_vertical(1, OrderType.LIMIT, -9.0))
    listed = broker.working_orders()
    assert all(isinstance(o, WorkingOrder) and o.modifiable and o.remaining == 1 for o in listed)
