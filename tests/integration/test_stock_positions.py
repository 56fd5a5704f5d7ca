"""Stock in the broker port: IB's STK positions kept (from the fake gateway's positions stream) and the paper
broker's settlement turning exercised or assigned contracts into shares, the trader's own shares kept apart."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.model import OptionContract, Position, Right, StockPosition
from domain.session import EASTERN
from domain.settlement import Outcome
from gateways.ib import IBBroker
from gateways.paper_broker import PaperBroker
from gateways.sim_market import SimulatedMarket, SpotScript
from runtime.clock import VirtualClock
from tests.fakes.ib_gateway import FakeContract, FakeIBGateway, FakePosition, GatewayScript
from tests.fakes.ib_gateway.harness import settings_for
from tests.support.ib_tree import DAY, SESSION

START = datetime(2026, 11, 25, 15, 50, tzinfo=EASTERN)


def _contract(right: Right, strike: float) -> OptionContract:
    return OptionContract("SPY", right, strike, DAY)


def _settled(positions, stock=(), *, spot=640.0, after_hours=0.0) -> tuple[PaperBroker, dict[str, Outcome]]:
    clock = VirtualClock(START)
    market = SimulatedMarket(SpotScript(spot, vol=0.0001, seed=1, after_hours=after_hours), SESSION, clock, START)
    broker = PaperBroker(market, clock, positions, stock=stock)
    clock.advance((SESSION.close - clock.now()).total_seconds())
    return broker, broker.settle()


def test_ib_keeps_the_stk_positions_of_the_positions_stream_apart_from_the_options():
    script = GatewayScript(positions=[FakePosition(FakeContract.stock("SPY"), 200, 512.30),
                                      FakePosition(FakeContract.stock("QQQ"), -100, 410.0),
                                      FakePosition(FakeContract.option("SPY 20261127 635C"), 3, 250.0)])
    with FakeIBGateway(script) as gateway:
        broker = IBBroker(settings_for(gateway), VirtualClock(datetime(2026, 11, 27, 14, 0, tzinfo=UTC)),
                          request_timeout=3, connect_timeout=3)
        broker.connect()
        try:
            stock = sorted(broker.stock_positions(), key=lambda s: s.symbol)
            options = broker.positions()
        finally:
            broker.disconnect()
    assert stock == [StockPosition("QQQ", -100, 410.0), StockPosition("SPY", 200, 512.30)]
    assert [p.contract.key for p in options] == ["SPY 20261127 635C"]


def test_each_exercised_or_assigned_contract_delivers_a_hundred_shares_its_way():
    # SPY 640 at the close: every contract below is 5 in the money
    cases = [(Right.CALL, 635.0, 2, 200), (Right.PUT, 645.0, -1, 100), (Right.PUT, 645.0, 3, -300),
             (Right.CALL, 635.0, -2, -200)]
    for right, strike, quantity, shares in cases:
        broker, outcomes = _settled([Position(_contract(right, strike), quantity, 1.0)])
        assert set(outcomes.values()) <= {Outcome.EXERCISED, Outcome.ASSIGNED}
        assert broker.stock_positions() == [StockPosition("SPY", shares, strike)], (right, strike, quantity)
        assert broker.positions() == []  # the options are gone overnight


def test_expired_contracts_deliver_nothing_and_the_traders_shares_stay_as_they_were():
    own = StockPosition("SPY", 300, 500.0)
    broker, outcomes = _settled([Position(_contract(Right.CALL, 650.0), 2, 1.0)], [own])
    assert outcomes == {"SPY 20261125 650C": Outcome.EXPIRED_OTM}
    assert broker.stock_positions() == [own]
    assert broker.positions() == []


def test_a_delivery_adds_to_the_traders_shares_and_a_flip_costs_the_strike():
    broker, _ = _settled([Position(_contract(Right.PUT, 645.0), -2, 1.0)], [StockPosition("SPY", 100, 600.0)])
    [held] = broker.stock_positions()
    assert (held.shares, round(held.avg_cost, 2)) == (300, round((600 + 2 * 645) / 3, 2))
    broker, _ = _settled([Position(_contract(Right.CALL, 635.0), -3, 1.0)], [StockPosition("SPY", 100, 600.0)])
    assert broker.stock_positions() == [StockPosition("SPY", -200, 635.0)]
    broker, _ = _settled([Position(_contract(Right.CALL, 635.0), -1, 1.0)], [StockPosition("SPY", 100, 600.0)])
    assert broker.stock_positions() == []
