"""IBBroker combo orders (a BAG contract with a ComboLeg per leg) end to end: the real ib_async client against the
fake IB Gateway on 127.0.0.1, closing a 595C/600C call vertical (long 595C, short 600C) in one order."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from domain.model import Execution, OptionContract, OrderType, Right, Side
from domain.order_refs import make_combo_ref
from gateways.broker import (
    BrokerError,
    ComboLegRequest,
    ComboRefused,
    ComboRequest,
    OrderEvent,
    OrderRefused,
    OrderRequest,
    OrderStatus,
)
from gateways.ib import IBBroker, ReconnectPolicy
from runtime.clock import VirtualClock
from tests.fakes.ib_gateway import FakeContract, FakeIBGateway, FakePosition, GatewayScript
from tests.fakes.ib_gateway.harness import EventRecorder, settings_for
from tests.fakes.ib_gateway.requests import place_order

LONG_KEY, SHORT_KEY = "SPY 20261127 595C", "SPY 20261127 600C"
LONG = OptionContract("SPY", Right.CALL, 595, date(2026, 11, 27))
SHORT = OptionContract("SPY", Right.CALL, 600, date(2026, 11, 27))
REF = make_combo_ref([LONG, SHORT], 1)
FAST_RECONNECT = ReconnectPolicy(initial_seconds=0.05, max_seconds=0.3, jitter_seconds=0.05)
# On these quotes the legs' fill lines are 6.05 (selling the 595C) and 3.05 (buying the 600C): a net of -3.00,
# a credit of 3.00 a share; a limit of -3.10 asks more than the book gives and rests.
QUOTES = {LONG_KEY: (6.00, 6.20), SHORT_KEY: (2.90, 3.10)}


def vertical(**kwargs: object) -> GatewayScript:
    return GatewayScript(positions=[FakePosition(FakeContract.option(LONG_KEY), 2, 700.0),
                                    FakePosition(FakeContract.option(SHORT_KEY), -2, 350.0)], **kwargs)


@pytest.fixture
def session(request):
    script = getattr(request, "param", None) or vertical()
    gateway = FakeIBGateway(script).start()
    for key, (bid, ask) in QUOTES.items():
        gateway.set_quote(key, bid, ask)
    broker = IBBroker(settings_for(gateway), VirtualClock(datetime(2026, 11, 27, 20, 55, tzinfo=UTC)),
                      request_timeout=3, connect_timeout=3, reconnect=FAST_RECONNECT)
    events = EventRecorder()
    broker.set_event_handler(events)
    broker.connect()
    yield gateway, broker, events
    broker.disconnect()
    gateway.stop()


def close_vertical(units: int = 2, net: float | None = -3.00, long_position: int = 2,
                   short_position: int = -2) -> ComboRequest:
    """Sell the long 595C, buy back the short 600C, ``units`` of each, as one combo at ``net`` (None: market)."""
    return ComboRequest((ComboLegRequest(LONG, Side.SELL, 1, long_position),
                         ComboLegRequest(SHORT, Side.BUY, 1, short_position)), units,
                        OrderType.LIMIT if net is not None else OrderType.MARKET, net, REF)


def order_events(events: EventRecorder, order_id: str) -> list[OrderEvent]:
    return [e for e in events.events if isinstance(e, OrderEvent) and e.order_id == order_id]


def test_a_limit_credit_combo_is_sent_as_a_bag_and_fills_both_legs_at_once(session):
    gateway, broker, events = session
    order_id = broker.place_combo(close_vertical())
    filled = events.wait_status(order_id, OrderStatus.FILLED)
    assert (filled.filled, filled.remaining, filled.contract.key, filled.order_ref) == (2, 0, LONG_KEY, REF)
    # Both positions went to 0 in the same fill.
    assert (gateway.position(LONG_KEY), gateway.position(SHORT_KEY)) == (0, 0)
    assert broker.positions() == []
    # IB sends an execution per leg and one for the BAG: only the legs are reported, with the leg's side.
    executions = sorted(events.executions(order_id), key=lambda e: e.contract.strike)
    assert [(e.contract.key, e.side, e.quantity, e.price, e.order_ref) for e in executions] == \
        [(LONG_KEY, Side.SELL, 2, 6.05, REF), (SHORT_KEY, Side.BUY, 2, 3.05, REF)]
    assert len(broker.executions()) == 2  # the reqExecutions read leaves the BAG out too
    assert [e.status for e in order_events(events, order_id)][-1] is OrderStatus.FILLED
    assert filled.commission == pytest.approx(2.60)  # 4 contracts at 0.65: the BAG's own has none
    # The wire: a BAG on SPY, BUY 2 units at a net of -3.0, each leg by conId with its closing action.
    [sent] = gateway.orders_sent()
    request = place_order(list(sent.fields))
    assert (request.contract.sec_type, request.contract.symbol, request.action, request.quantity,
            request.order_type, request.limit_price, request.order_ref) == ("BAG", "SPY", "BUY", 2, "LMT", -3.0, REF)
    assert [(leg.con_id, leg.ratio, leg.action, leg.exchange) for leg in request.combo_legs] == \
        [(gateway.con_id(LONG_KEY), 1, "SELL", "SMART"), (gateway.con_id(SHORT_KEY), 1, "BUY", "SMART")]


def test_a_resting_combo_is_listed_once_per_leg_then_walks_and_fills(session):
    gateway, broker, events = session
    order_id = broker.place_combo(close_vertical(net=-3.10))
    events.wait_status(order_id, OrderStatus.SUBMITTED)
    legs = sorted(broker.working_orders(), key=lambda o: o.contract.strike)
    assert [(o.order_id, o.contract.key, o.side, o.quantity, o.filled, o.limit_price, o.order_ref, o.combo)
            for o in legs] == [(order_id, LONG_KEY, Side.SELL, 2, 0, -3.10, REF, True),
                               (order_id, SHORT_KEY, Side.BUY, 2, 0, -3.10, REF, True)]
    assert legs[0].perm_id == legs[1].perm_id is not None
    broker.modify_limit(order_id, -3.00)
    events.wait_status(order_id, OrderStatus.FILLED)
    modify = place_order(list(gateway.orders_sent()[-1].fields))
    assert (modify.order_id, modify.contract.sec_type, len(modify.combo_legs), modify.limit_price) == \
        (int(order_id), "BAG", 2, -3.0)
    assert (gateway.position(LONG_KEY), gateway.position(SHORT_KEY)) == (0, 0)
    assert len(events.executions(order_id)) == 2


def test_a_resting_combo_turned_to_market_fills_at_the_far_touches(session):
    gateway, broker, events = session
    order_id = broker.place_combo(close_vertical(net=-3.10))
    events.wait_status(order_id, OrderStatus.SUBMITTED)
    legs = broker.working_orders()
    broker.modify_to_market(legs[0])
    events.wait_status(order_id, OrderStatus.FILLED)
    prices = {e.contract.key: e.price for e in events.executions(order_id)}
    assert prices == {LONG_KEY: 6.00, SHORT_KEY: 3.10}
    assert place_order(list(gateway.orders_sent()[-1].fields)).order_type == "MKT"
    assert (gateway.position(LONG_KEY), gateway.position(SHORT_KEY)) == (0, 0)


@pytest.mark.parametrize("session", [vertical(refuse_combos=True)], indirect=True)
def test_a_combo_ib_refuses_is_rejected_as_combo_refused(session):
    gateway, broker, events = session
    order_id = broker.place_combo(close_vertical())
    rejected = events.wait_status(order_id, OrderStatus.REJECTED)
    assert rejected.message.startswith("combo refused:") and "IB 201" in rejected.message
    assert (gateway.position(LONG_KEY), gateway.position(SHORT_KEY)) == (2, -2)
    # Nothing works any more on the legs: a single close of each may go out.
    broker.place_order(OrderRequest(LONG, Side.SELL, 2, OrderType.LIMIT, 6.05, "CLN-20261127-SPY-595C-1", 2))


def test_a_combo_across_underlyings_is_refused_before_anything_is_sent(session):
    gateway, broker, _ = session
    qqq = OptionContract("QQQ", Right.CALL, 500, date(2026, 11, 27))
    request = ComboRequest((ComboLegRequest(LONG, Side.SELL, 1, 2), ComboLegRequest(qqq, Side.BUY, 1, -1)), 1,
                           OrderType.LIMIT, -1.0, REF)
    with pytest.raises(ComboRefused):
        broker.place_combo(request)
    with pytest.raises(BrokerError):
        broker.place_combo(ComboRequest((ComboLegRequest(LONG, Side.SELL, 1, 2),), 1, OrderType.MARKET, None, REF))
    assert gateway.orders_sent() == []


def test_the_last_guard_checks_every_leg_and_counts_a_working_combo(session):
    gateway, broker, events = session
    with pytest.raises(OrderRefused, match="600C"):
        broker.place_combo(close_vertical(units=2, short_position=-1))  # the 600C leg would buy 2 of a -1
    with pytest.raises(OrderRefused, match="exceeds"):
        broker.place_combo(close_vertical(units=3))
    order_id = broker.place_combo(close_vertical(net=-3.10))
    events.wait_status(order_id, OrderStatus.SUBMITTED)
    # The resting combo may still close both 595C: a single close of one more would over-close.
    with pytest.raises(OrderRefused, match="with 2 of ours still working"):
        broker.place_order(OrderRequest(LONG, Side.SELL, 1, OrderType.LIMIT, 6.05, "CLN-20261127-SPY-595C-2", 2))
    assert len(gateway.orders_sent()) == 1


def test_a_working_combo_is_adopted_after_a_reconnect_and_can_still_be_walked(session):
    gateway, broker, events = session
    order_id = broker.place_combo(close_vertical(net=-3.10))
    events.wait_status(order_id, OrderStatus.SUBMITTED)
    sessions = broker.session  # bumped on every connect
    gateway.drop_connections()
    assert gateway.wait_for(lambda: broker.is_connected() and broker.session > sessions, 5)
    adopted = broker.last_reconciliation.adopted
    assert sorted((o.order_id, o.contract.key, o.combo) for o in adopted) == \
        [(order_id, LONG_KEY, True), (order_id, SHORT_KEY, True)]
    broker.modify_limit(order_id, -3.00)
    events.wait_status(order_id, OrderStatus.FILLED)
    assert (gateway.position(LONG_KEY), gateway.position(SHORT_KEY)) == (0, 0)
    assert len([e for e in events.events if isinstance(e, Execution) and e.order_id == order_id]) == 2
