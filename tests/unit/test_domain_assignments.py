"""The morning check's pure detection: what vanished, what it delivered, what that exposes; never the trader's
own shares, never more than the change."""

from __future__ import annotations

from datetime import date, datetime

from hypothesis import given
from hypothesis import strategies as st

from domain.assignments import REG_T_INITIAL_MARGIN, Fate, VanishedOption, attributable, detect
from domain.evening import EveningRecord
from domain.model import OptionContract, Position, Right, StockPosition
from domain.session import EASTERN

DAY = date(2026, 11, 27)
AT = datetime(2026, 11, 27, 13, 1, tzinfo=EASTERN)


def option(right: Right, strike: float, quantity: int, symbol: str = "SPY") -> Position:
    return Position(OptionContract(symbol, right, strike, DAY), quantity, 1.0)


def record(options, stock=(), prices=None) -> EveningRecord:
    return EveningRecord(DAY, AT, tuple(options), tuple(stock), {"SPY": 640.0} if prices is None else prices)


def test_an_assigned_short_put_delivers_its_shares_with_their_exposure_and_reg_t_margin():
    check = detect(record([option(Right.PUT, 645.0, -2)]), [], [StockPosition("SPY", 200, 645.0)])
    [gone] = check.vanished
    assert (gone.fate, gone.contracts) == (Fate.ASSIGNED, 2)
    [delivery] = check.deliveries
    assert (delivery.symbol, delivery.attributed, delivery.exposure) == ("SPY", 200, 200 * 640.0)
    assert delivery.margin == 200 * 640.0 * REG_T_INITIAL_MARGIN == check.margin


def test_the_closing_price_says_exercised_assigned_or_expired():
    options = [option(Right.CALL, 635.0, 1), option(Right.CALL, 650.0, 3), option(Right.CALL, 630.0, -1)]
    check = detect(record(options), [], [])
    assert [v.fate for v in check.vanished] == [Fate.EXERCISED, Fate.EXPIRED, Fate.ASSIGNED]
    assert check.deliveries == ()  # +100 and -100: nothing net came in
    assert [v.fate for v in detect(record(options, prices={}), [], []).vanished] == [Fate.UNKNOWN] * 3


def test_the_traders_own_shares_are_never_attributed():
    own = StockPosition("SPY", 300, 500.0)
    # the short put expired: nothing came in, the 300 shares were there at the close
    assert detect(record([option(Right.PUT, 600.0, -1)], [own]), [], [own]).deliveries == ()
    # a long call exercised adds 100 to the 300
    [delivery] = detect(record([option(Right.CALL, 635.0, 1)], [own]), [], [StockPosition("SPY", 400, 0)]).deliveries
    assert (delivery.shares_before, delivery.shares_now, delivery.attributed) == (300, 400, 100)


def test_a_short_put_out_of_the_money_at_the_close_assigned_after_hours_still_counts_its_shares():
    check = detect(record([option(Right.PUT, 639.0, -1)]), [], [StockPosition("SPY", 100, 639.0)])
    assert check.vanished[0].fate is Fate.EXPIRED
    assert check.deliveries[0].attributed == 100


def test_an_option_still_listed_in_the_morning_is_not_gone():
    held = option(Right.PUT, 645.0, -2)
    check = detect(record([held]), [Position(held.contract, -2)], [])
    assert check.vanished == () and [p.quantity for p in check.still_held] == [-2]
    partly = detect(record([held]), [Position(held.contract, -1)], [StockPosition("SPY", 100, 645.0)])
    assert partly.vanished[0].contracts == 1 and partly.deliveries[0].attributed == 100


deliveries = st.lists(st.integers(-5, 5).filter(bool).map(lambda n: n * 100), max_size=6)


@given(st.integers(-2000, 2000), deliveries)
def test_attribution_never_exceeds_the_change_nor_takes_its_other_sign(change, possible):
    vanished = [VanishedOption(option(Right.CALL, 600.0, shares // 100), abs(shares) // 100, Fate.EXERCISED, 640.0)
                for shares in possible]
    shares = attributable(change, vanished)
    assert abs(shares) <= abs(change)
    assert shares == 0 or (shares > 0) == (change > 0)
    assert sum(min(s, 0) for s in possible) <= shares <= sum(max(s, 0) for s in possible)


@given(st.integers(-1000, 1000), st.integers(-1000, 1000), st.lists(
    st.tuples(st.sampled_from([Right.CALL, Right.PUT]), st.integers(-4, 4).filter(bool), st.booleans()), max_size=5))
def test_the_shares_held_at_the_close_are_never_attributed(before, traded, held):
    options = [option(right, 640.0 + (-10 if itm == (right is Right.CALL) else 10), qty) for right, qty, itm in held]
    delivered = sum(qty * 100 * (1 if right is Right.CALL else -1) for right, qty, itm in held if itm)
    now = before + delivered + traded
    stock_now = [StockPosition("SPY", now, 1.0)] if now else []
    check = detect(record(options, [StockPosition("SPY", before, 1.0)] if before else []), [], stock_now)
    attributed = sum(d.attributed for d in check.deliveries)
    assert abs(attributed) <= abs(now - before)  # the shares of the close are never part of it
    if traded == 0:
        assert attributed == delivered  # and with no trading overnight, the delivery is exactly what it was
