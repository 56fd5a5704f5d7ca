"""The disposal's sizing and walk (pure), and the paper broker's stock orders: the last guard never lets a disposal
take more shares than are held, a marketable limit fills on the stock's book, the trader's shares stay."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.disposal import disposal_side, first_price, next_price, shares_to_dispose, walk_for
from domain.model import OrderType, Quote, Side, StockPosition
from domain.session import EASTERN
from gateways.broker import OrderRefused, OrderStatus, StockOrderRequest
from gateways.paper_broker import PaperBroker
from gateways.sim_market import SimulatedMarket, SpotScript
from runtime.clock import VirtualClock
from tests.support.ib_tree import SESSION

OPEN = datetime(2026, 11, 25, 9, 30, tzinfo=EASTERN)
QUOTE = Quote("SPY", 640.00, 640.02, 640.01, OPEN, "test")


@given(st.integers(-1000, 1000), st.integers(-1000, 1000))
def test_never_more_than_attributed_nor_than_held_nor_the_other_side(attributed, held):
    shares = shares_to_dispose(attributed, held)
    assert 0 <= shares <= min(abs(attributed), abs(held))
    if shares:
        assert (attributed > 0) == (held > 0)


def test_the_walk_starts_at_the_touch_and_ends_at_market_within_the_band():
    side = disposal_side(200)
    assert side is Side.SELL
    walk = walk_for(side, QUOTE, 0.005, 10, 5.0)
    price = first_price(side, QUOTE, walk)
    assert price.limit == 640.00  # the bid: marketable
    limits, used = [], 1
    while not price.final:
        move = next_price(side, QUOTE, price, used, 5.0, walk)
        assert move is not None
        price, used = move.price, used + 1
        limits.append(price.limit)
    assert limits[-2] == pytest.approx(640.00 * (1 - 0.005), abs=0.01) and limits[-1] is None  # the band, then market
    assert all(limit >= 640.00 * 0.995 for limit in limits if limit is not None)
    assert next_price(side, QUOTE, first_price(side, QUOTE, walk), 1, 1.0, walk) is None  # not due yet
    assert first_price(Side.BUY, None, walk).final  # no quote: at market


def _broker(stock):
    clock = VirtualClock(OPEN)
    market = SimulatedMarket(SpotScript(640.0, vol=0.0001, seed=1), SESSION, clock, OPEN)
    return PaperBroker(market, clock, [], stock=stock), clock


def test_the_paper_broker_refuses_a_disposal_beyond_the_shares_held_and_fills_a_marketable_one():
    broker, clock = _broker([StockPosition("SPY", 300, 600.0)])
    with pytest.raises(OrderRefused):
        broker.place_stock_order(StockOrderRequest("SPY", Side.SELL, 400, OrderType.LIMIT, 639.0, "CLN-x", 300))
    with pytest.raises(OrderRefused):  # buying would add to a long: never opens or flips
        broker.place_stock_order(StockOrderRequest("SPY", Side.BUY, 100, OrderType.LIMIT, 641.0, "CLN-x", 300))
    order_id = broker.place_stock_order(StockOrderRequest("SPY", Side.SELL, 200, OrderType.LIMIT, 630.0, "CLN-x", 300))
    with pytest.raises(OrderRefused):  # with 200 working, 200 more would take more than held
        broker.place_stock_order(StockOrderRequest("SPY", Side.SELL, 200, OrderType.LIMIT, 630.0, "CLN-y", 300))
    clock.advance(2)
    broker.process(clock.now())
    [state] = broker.stock_orders()
    assert (state.order_id, state.status, state.filled) == (order_id, OrderStatus.FILLED, 200)
    assert broker.stock_positions() == [StockPosition("SPY", 100, 600.0)]
