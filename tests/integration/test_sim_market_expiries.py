"""The simulated market prices a contract expiring after the session with the time left to its expiry."""

from datetime import date, timedelta

from domain.model import OptionContract, Right
from gateways.sim_market import SimulatedMarket, SpotScript
from runtime.clock import VirtualClock
from tests.support.domain_builders import CLOSE, DAY, SESSION


def market():
    clock = VirtualClock(CLOSE - timedelta(minutes=30))
    return SimulatedMarket(SpotScript(640.0, vol=0.15, seed=3), SESSION, clock, clock.now())


def test_a_later_expiry_keeps_its_time_value_through_the_close_and_today_s_ends_at_intrinsic():
    sim = market()
    today, friday, january = (OptionContract("SPY", Right.CALL, 640, expiry)
                              for expiry in (DAY, date(2026, 11, 27), date(2027, 1, 15)))
    at = CLOSE - timedelta(minutes=30)
    assert sim.option_mid(today, at) < sim.option_mid(friday, at) < sim.option_mid(january, at)
    assert sim.minutes_to_expiry(friday, at) == 30 + 2 * 390  # Thursday (a holiday, ignored) and Friday
    after = CLOSE + timedelta(minutes=10)
    assert sim.option_mid(today, after) == max(round(max(sim.spot_at("SPY", after) - 640, 0.0), 2), 0.01)
    assert sim.option_mid(january, after) > 5


def test_a_deep_call_expiring_later_is_worth_little_above_intrinsic():
    sim = market()
    deep = OptionContract("SPY", Right.CALL, 560, date(2027, 1, 15))
    at = CLOSE - timedelta(minutes=30)
    assert 0 <= sim.option_mid(deep, at) - (sim.spot_at("SPY", at) - 560) < 0.5
