"""The paper broker paces as IB makes a client pace (domain.pacing, the ib_messages_per_second setting):
a burst of closes goes out in turn, never faster than the rate, none dropped, each working only from when
it was sent."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from config.loader import default_values
from domain.execution import FILL_DELAY_SECONDS
from domain.model import Execution, OptionContract, OrderType, Position, Right, Side
from domain.pacing import Pacer, paced_rate
from domain.session import EASTERN
from gateways.broker import OrderEvent, OrderRequest, OrderStatus
from gateways.paper_broker import PaperBroker
from gateways.sim_market import SimulatedMarket, SpotScript
from runtime.clock import VirtualClock
from tests.support.ib_tree import DAY, SESSION

START = datetime(2026, 11, 25, 15, 55, tzinfo=EASTERN)
RATE = paced_rate(default_values()["ib_messages_per_second"])


def _broker(count: int, **options) -> tuple[PaperBroker, VirtualClock, list, list[OptionContract]]:
    clock = VirtualClock(START)
    market = SimulatedMarket(SpotScript(640.0, vol=0.0001, seed=1), SESSION, clock, START)
    contracts = [OptionContract("SPY", Right.CALL, 600.0 + i * 0.5, DAY) for i in range(count)]
    broker = PaperBroker(market, clock, [Position(c, 1, 1.0) for c in contracts], **options)
    events: list = []
    broker.set_event_handler(events.append)
    return broker, clock, events, contracts


def _close(contract: OptionContract) -> OrderRequest:
    return OrderRequest(contract, Side.SELL, 1, OrderType.MARKET, None, f"CLN-{contract.key}", position=1)


def _most_in_one_second(times: list[datetime]) -> int:
    return max(sum(1 for u in times if t <= u < t + timedelta(seconds=1)) for t in times)


def test_200_closes_at_once_go_out_in_turn_at_the_rate_none_dropped_none_early():
    broker, clock, events, contracts = _broker(200)
    ids = [broker.place_order(_close(c)) for c in contracts]  # all at once, at START
    assert len(broker.sent_at) < 200  # the rest wait in the outbox
    for _ in range(int(200 / RATE) + 2):
        clock.advance(1.0)
        broker.process(clock.now())
    submitted = {e.order_id: e.at for e in events if isinstance(e, OrderEvent) and e.status is OrderStatus.SUBMITTED}
    assert len(broker.sent_at) == 200 and set(submitted) == set(ids)  # every one sent, none dropped
    times = [submitted[i] for i in ids]
    assert times == sorted(times) == broker.sent_at  # in the order placed
    assert times[-1] - START <= timedelta(seconds=200 / RATE + 1)
    assert _most_in_one_second(times) <= RATE
    for n, at in enumerate(times):  # none before its turn
        assert at >= START + timedelta(seconds=n / RATE) - timedelta(microseconds=1)


def test_an_order_works_and_fills_only_from_when_it_was_sent():
    broker, clock, events, contracts = _broker(120)
    for c in contracts:
        broker.place_order(_close(c))
    last_sent = None
    for _ in range(10):
        clock.advance(1.0)
        broker.process(clock.now())
        shown = {o.order_id for o in broker.working_orders()}
        sent = {e.order_id for e in events if isinstance(e, OrderEvent) and e.status is OrderStatus.SUBMITTED}
        assert shown <= sent  # the open-order list shows only what went out
        last_sent = last_sent or (broker.sent_at[-1] if len(broker.sent_at) == 120 else None)
    submitted = {e.order_id: e.at for e in events if isinstance(e, OrderEvent) and e.status is OrderStatus.SUBMITTED}
    fills = [e for e in events if isinstance(e, Execution)]
    assert fills and all(f.at >= submitted[f.order_id] + timedelta(seconds=FILL_DELAY_SECONDS) for f in fills)
    assert last_sent is not None and last_sent - START > timedelta(seconds=2)  # the last ones went out later


def test_modifies_and_cancels_are_messages_in_the_same_line():
    broker, clock, events, contracts = _broker(60, messages_per_second=10)
    ids = [broker.place_order(_close(c)) for c in contracts[:10]]
    broker.cancel(ids[0])  # behind the ten placements: one second later at 10 a second
    assert len(broker.sent_at) == 1
    clock.advance(1.0)
    broker.process(clock.now())
    cancelled = [e for e in events if isinstance(e, OrderEvent) and e.status is OrderStatus.CANCELLED]
    assert [e.order_id for e in cancelled] == [ids[0]] and cancelled[0].at == START + timedelta(seconds=1)
    assert len(broker.sent_at) == 11


@pytest.mark.parametrize("rate", [1, 7, 45, 48])
def test_the_pacer_keeps_any_second_at_the_rate(rate):
    pacer = Pacer(rate)
    times = [START + timedelta(seconds=pacer.slot(at)) for at in [0.0] * 150 + [0.5 * k for k in range(50)]]
    assert times == sorted(times) and _most_in_one_second(times) <= rate
