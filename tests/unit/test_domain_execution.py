"""The execution rules shared by the Executor, the paper broker and the benchmark (domain/execution.py)."""

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.execution import (
    LAST_CALL_SECONDS,
    Priced,
    commission,
    fill_due,
    fill_pnl,
    fill_price,
    fill_slippage,
    plan_close,
    stop_triggered,
    walk_step,
    working_fill,
)
from domain.model import OrderType, Side, WorkingOrder
from tests.support.domain_builders import contract, position


@dataclass(frozen=True)
class Walk:
    max_attempts: int = 10
    attempt_interval_seconds: float = 5.0
    max_slippage: float = 0.10


SETTINGS = Walk()
C = contract(500)
sides = st.sampled_from(list(Side))


def closing(quantity: int, filled: int = 0, side: Side = Side.SELL) -> WorkingOrder:
    return WorkingOrder("7", C, side, OrderType.LIMIT, quantity, filled=filled, limit_price=1.0)


# --- planning a close ----------------------------------------------------------------------------
def test_a_close_starts_at_the_mid_at_the_attempt_number():
    plan = plan_close(3, position(C, 3), (), 1.05, 1.00, 1.10, 0, 120, SETTINGS)
    assert plan is not None and (plan.side, plan.quantity, plan.price) == (Side.SELL, 3, Priced(0, 1.05))
    later = plan_close(3, position(C, 3), (), 1.05, 1.00, 1.10, 4, 120, SETTINGS)
    assert later is not None and later.price.attempt == 4 and later.price.limit is not None
    assert later.price.limit < 1.05


def test_a_short_is_closed_by_buying():
    plan = plan_close(2, position(C, -2), (), 1.05, 1.00, 1.10, 0, 120, SETTINGS)
    assert plan is not None and plan.side is Side.BUY


def test_market_without_a_reference_mid_in_the_last_call_or_when_asked():
    assert plan_close(1, position(C, 1), (), None, None, None, 0, 120, SETTINGS).price == Priced(9, None)
    assert plan_close(1, position(C, 1), (), 1.0, 0.9, 1.1, 0, LAST_CALL_SECONDS, SETTINGS).price.final
    assert not plan_close(1, position(C, 1), (), 1.0, 0.9, 1.1, 0, LAST_CALL_SECONDS + 1, SETTINGS).price.final
    assert plan_close(1, position(C, 1), (), 1.0, 0.9, 1.1, 0, 120, SETTINGS, at_market=True).price.final


def test_nothing_once_the_attempts_are_used():
    assert plan_close(1, position(C, 1), (), 1.0, 0.9, 1.1, SETTINGS.max_attempts, 120, SETTINGS) is None


@given(held=st.integers(-20, 20).filter(bool), requested=st.integers(1, 30), working=st.integers(0, 25),
       filled=st.integers(0, 25))
def test_a_close_never_takes_more_than_what_is_open_minus_working_closes(held, requested, working, filled):
    side = Side.SELL if held > 0 else Side.BUY
    orders = [closing(working, min(filled, working), side)] if working else []
    plan = plan_close(requested, position(C, held), orders, 1.0, 0.9, 1.1, 0, 120, SETTINGS)
    room = abs(held) - sum(o.remaining for o in orders)
    if room <= 0:
        assert plan is None
    else:
        assert plan is not None and plan.side is side and 0 < plan.quantity <= min(requested, room)


def test_working_orders_on_the_other_side_do_not_count():
    plan = plan_close(3, position(C, 3), [closing(3, side=Side.BUY)], 1.0, 0.9, 1.1, 0, 120, SETTINGS)
    assert plan is not None and plan.quantity == 3


# --- the walk --------------------------------------------------------------------------------------
def test_the_walk_waits_for_the_interval_outside_the_last_call():
    working = Priced(0, 2.00)
    assert walk_step(Side.SELL, 2.00, 1.50, 2.50, working, 1, 4.9, 120, SETTINGS) is None
    step = walk_step(Side.SELL, 2.00, 1.50, 2.50, working, 1, 5.0, 120, SETTINGS)
    assert step is not None and step.send and step.price.attempt == 1 and step.price.limit == 1.98


def test_every_second_in_the_last_call_and_at_market():
    step = walk_step(Side.SELL, 2.00, 1.50, 2.50, Priced(0, 2.00), 1, 1.0, LAST_CALL_SECONDS, SETTINGS)
    assert step is not None and step.send and step.price == Priced(9, None)


def test_the_same_price_again_is_no_attempt():
    """A one-tick market: the walk toward the bid cannot go lower, so nothing is sent."""
    step = walk_step(Side.SELL, 1.005, 1.00, 1.01, Priced(3, 1.00), 4, 10, 120, SETTINGS)
    assert step is not None and not step.send and step.price == Priced(4, 1.00)


def test_no_walk_once_the_attempts_are_used():
    assert walk_step(Side.SELL, 2.0, 1.5, 2.5, Priced(8, 1.9), SETTINGS.max_attempts, 60, 120, SETTINGS) is None


def test_the_walk_is_at_least_one_attempt_past_what_was_used():
    step = walk_step(Side.BUY, 2.00, 1.50, 2.50, Priced(2, 2.02), 6, 5, 120, SETTINGS)
    assert step is not None and step.price.attempt == 6


@given(side=sides, mid=st.floats(0.05, 20), half=st.floats(0.01, 1), used=st.integers(0, 9),
       seconds=st.floats(0, 300))
def test_the_last_attempt_of_a_walk_is_a_market_order(side, mid, half, used, seconds):
    step = walk_step(side, mid, mid - half, mid + half, Priced(used - 1, mid), used, 60, seconds, SETTINGS)
    assert step is not None
    assert step.price.final == (step.price.attempt >= SETTINGS.max_attempts - 1)
    assert step.price.attempt <= SETTINGS.max_attempts - 1


# --- the fill model ----------------------------------------------------------------------------------
def test_fills_wait_for_the_delay():
    assert not fill_due(0.999) and fill_due(1.0) and fill_due(3, 2.5) and not fill_due(2, 2.5)


def test_a_limit_fills_at_its_limit_once_halfway_to_the_far_touch():
    assert fill_price(Side.SELL, 1.03, 1.00, 1.05, 1.10) is None  # halfway is 1.025
    assert fill_price(Side.SELL, 1.025, 1.00, 1.05, 1.10) == 1.025
    assert fill_price(Side.BUY, 1.07, 1.00, 1.05, 1.10) is None
    assert fill_price(Side.BUY, 1.08, 1.00, 1.05, 1.10) == 1.08


def test_market_orders_fill_at_the_far_touch_never_below_a_cent():
    assert fill_price(Side.SELL, None, 1.00, 1.05, 1.10) == 1.00
    assert fill_price(Side.BUY, None, 1.00, 1.05, 1.10) == 1.10
    assert fill_price(Side.SELL, None, 0.0, 0.01, 0.02) == 0.01


@given(side=sides, mid=st.floats(0.01, 50), half=st.floats(0, 2), limit=st.floats(0.01, 60))
def test_a_fill_is_never_better_than_the_fill_line(side, mid, half, limit):
    bid, ask = max(mid - half, 0.0), mid + half
    price = fill_price(side, limit, bid, mid, ask)
    if price is not None:
        line = (mid + bid) / 2 if side is Side.SELL else (mid + ask) / 2
        assert (price <= line + 1e-9 or price == 0.01) if side is Side.SELL else price >= line - 1e-9


def test_stops_trigger_on_the_mid():
    assert stop_triggered(Side.SELL, 1.00, 1.00) and not stop_triggered(Side.SELL, 1.00, 1.01)
    assert stop_triggered(Side.BUY, 2.00, 2.00) and not stop_triggered(Side.BUY, 2.00, 1.99)


def test_a_working_stop_becomes_a_market_order_once_triggered_and_fills_after_the_delay():
    stop = WorkingOrder("1", C, Side.SELL, OrderType.STOP, 2, stop_price=1.00)
    assert working_fill(stop, 5, 1.00, 1.05, 1.10) == (stop, None)  # mid above the stop
    triggered, price = working_fill(stop, 5, 0.95, 1.00, 1.05)
    assert triggered.order_type is OrderType.MARKET and triggered.stop_price is None and price == 0.95
    assert working_fill(stop, 0.5, 0.95, 1.00, 1.05)[1] is None  # triggered, but within the fill delay


def test_a_working_limit_without_a_price_never_fills():
    odd = WorkingOrder("1", C, Side.SELL, OrderType.OTHER, 2)
    assert working_fill(odd, 5, 1.00, 1.05, 1.10) == (odd, None)
    assert working_fill(closing(2), 5, 0.98, 1.02, 1.06) == (closing(2), 1.0)  # the fill line is 1.00


def test_commission_per_contract():
    assert commission(1) == 0.65 and commission(10) == 6.5


# --- what a fill did ---------------------------------------------------------------------------------
def test_slippage_is_worse_than_the_reference_mid_for_us():
    assert fill_slippage(Side.SELL, 1.05, 1.00) == pytest.approx(0.05)
    assert fill_slippage(Side.BUY, 1.05, 1.10) > 0
    assert fill_slippage(Side.SELL, None, 1.00) is None and fill_slippage(Side.SELL, 1.0, None) is None


def test_pnl_against_the_cost_net_of_commission():
    assert fill_pnl(Side.SELL, 1.50, 1.00, 2, 1.30) == 50.0 * 2 - 1.30
    assert fill_pnl(Side.BUY, 1.50, 1.00, 1, 0.65) == -50.0 - 0.65
    assert fill_pnl(Side.SELL, None, 1.00, 1, 0.65) == -0.65
    assert fill_pnl(Side.SELL, None, 1.00, 1, 0.0) is None
