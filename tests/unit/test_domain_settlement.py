"""The session's KPI counts at the bell (what the live counters report) and the price they use."""

from __future__ import annotations

from datetime import timedelta

from domain.model import Position, Side
from domain.settlement import (
    Outcome,
    PositionResult,
    SessionCounts,
    closed_quantity,
    closing_spot,
    delivered_shares,
    session_counts,
    session_kpis,
    settle_at_close,
)
from tests.support.domain_builders import CLOSE, contract, spot_quote

SPOT = 642.50
PRICES = {"SPY": SPOT}


def test_closed_positions_split_into_prevented_and_false_positives() -> None:
    closed = [Position(contract(638), 2),  # long call $4.50 in: would have been exercised
              Position(contract(641, "P"), -3),  # short put $1.50 out at the bell
              Position(contract(630, "P"), -2)]  # far out
    counts = settle_at_close([], closed, PRICES)
    assert counts == SessionCounts(prevented=1, left_in_the_money=0, false_positives=2, closed=3)


def test_open_positions_in_the_money_at_the_bell_are_left_in_the_money() -> None:
    still_open = [Position(contract(642), 1),  # 50 cents in
                  Position(contract(643, "P"), -1),  # short put 50 cents in: assigned
                  Position(contract(650), 1),  # out
                  Position(contract(642.495), 1)]  # half a cent in: below OCC's $0.01, not exercised
    counts = settle_at_close(still_open, [], PRICES)
    assert counts == SessionCounts(prevented=0, left_in_the_money=2, false_positives=0, closed=0)


def test_a_partly_closed_contract_counts_as_open_only() -> None:
    counts = settle_at_close([Position(contract(638), 1)], [Position(contract(638), 2)], PRICES)
    assert counts == SessionCounts(prevented=0, left_in_the_money=1, false_positives=0, closed=0)


def test_a_short_otm_at_the_bell_is_not_counted_as_assigned_at_the_bell() -> None:
    # Pin risk: it may still be assigned after hours, which the live service cannot know at 16:00.
    assert settle_at_close([Position(contract(642, "P"), -1)], [], PRICES).left_in_the_money == 0


def test_each_contract_settles_on_its_own_underlying_at_the_close() -> None:
    prices = {"SPY": SPOT, "IWM": 218.0, "QQQ": 505.0}
    still_open = [Position(contract(220, "P", symbol="IWM"), -2),  # $2 in on IWM; on SPY's 642.50 far out
                  Position(contract(510, symbol="QQQ"), 1)]  # $5 out on QQQ; on SPY's price $132 in
    counts = settle_at_close(still_open, [], prices)
    assert counts == SessionCounts(prevented=0, left_in_the_money=1, false_positives=0, closed=0)
    closed = [Position(contract(510, symbol="QQQ"), 1)]  # closed by us, would have expired on QQQ's price
    assert settle_at_close([], closed, prices) == SessionCounts(0, 0, 1, 1)


def test_a_contract_whose_underlying_has_no_closing_price_is_left_out_of_the_counts() -> None:
    still_open = [Position(contract(5800, symbol="SPX"), 1), Position(contract(642), 1)]
    assert settle_at_close(still_open, [], PRICES) == SessionCounts(0, 1, 0, 0)


def test_closing_fills_take_away_the_position_they_close() -> None:
    assert closed_quantity(Side.SELL, 3) == 3  # selling closes a long
    assert closed_quantity(Side.BUY, 2) == -2  # buying closes a short


def test_session_kpis_use_the_same_counts() -> None:
    results = [PositionResult(Position(contract(638), 2), Outcome.CLOSED, Outcome.EXERCISED, 2),
               PositionResult(Position(contract(641, "P"), -3), Outcome.CLOSED, Outcome.ASSIGNED, 3),
               PositionResult(Position(contract(650), 1), Outcome.CLOSED, Outcome.EXPIRED_OTM, 1),
               PositionResult(Position(contract(642), 4), Outcome.EXERCISED, Outcome.EXERCISED)]
    counts = session_counts(results)
    assert counts == SessionCounts(prevented=2, left_in_the_money=1, false_positives=1, closed=3)
    kpis = session_kpis(results)
    assert kpis.exercise_prevention_rate == 2 / 3
    assert kpis.false_positive_rate == 1 / 3
    assert kpis.exercised_contracts == 4


def test_closing_spot_is_the_last_quote_before_the_bell_when_fresh() -> None:
    before = spot_quote(642.5, CLOSE - timedelta(seconds=1))
    after = spot_quote(638.9, CLOSE + timedelta(seconds=20))
    now = CLOSE + timedelta(seconds=30)
    assert closing_spot(before, after, CLOSE, now, 5.0) == 642.5


def test_closing_spot_after_a_feed_outage_at_the_bell_is_the_first_fresh_quote_after_it() -> None:
    stale = spot_quote(642.5, CLOSE - timedelta(seconds=60))
    now = CLOSE + timedelta(seconds=30)
    assert closing_spot(stale, spot_quote(641.0, now - timedelta(seconds=2)), CLOSE, now, 5.0) == 641.0
    assert closing_spot(stale, spot_quote(641.0, now - timedelta(seconds=9)), CLOSE, now, 5.0) is None
    assert closing_spot(None, None, CLOSE, now, 5.0) is None


def test_a_spread_exercised_and_assigned_whole_delivers_no_net_shares():
    long_leg = PositionResult(Position(contract(595, "C"), 5), Outcome.EXERCISED, Outcome.EXERCISED)
    short_leg = PositionResult(Position(contract(600, "C"), -5), Outcome.ASSIGNED, Outcome.ASSIGNED)
    assert delivered_shares(long_leg) == 500 and delivered_shares(short_leg) == -500
    kpis = session_kpis([long_leg, short_leg])
    assert kpis.exercised_contracts == 10 and kpis.shares_delivered == 0
    short_put = PositionResult(Position(contract(600, "P"), -2), Outcome.ASSIGNED, Outcome.ASSIGNED, closed_quantity=1)
    assert delivered_shares(short_put) == 100
