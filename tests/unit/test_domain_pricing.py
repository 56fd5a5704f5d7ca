from hypothesis import given
from hypothesis import strategies as st

from domain.model import Side
from domain.order_refs import is_cleanup_ref, make_order_ref, ref_sequence
from domain.pricing import limit_price, round_to_tick, slippage_per_share
from tests.support.domain_builders import contract


def test_first_attempt_is_the_mid_and_the_last_is_a_market_order():
    assert limit_price(Side.SELL, 1.05, 1.00, 1.10, 0, 10, 0.10) == 1.05
    assert limit_price(Side.SELL, 1.05, 1.00, 1.10, 9, 10, 0.10) is None


def test_walk_moves_toward_the_far_side_and_stops_at_the_cap():
    prices = [limit_price(Side.SELL, 2.00, 1.50, 2.50, attempt, 10, 0.10) for attempt in range(9)]
    assert prices == sorted(prices, reverse=True)
    assert prices[0] == 2.00 and prices[-1] == 1.90


def test_walk_does_not_go_past_the_far_side():
    assert limit_price(Side.BUY, 1.00, 0.99, 1.01, 8, 10, 0.10) == 1.01


@given(mid=st.floats(0.05, 20), half_spread=st.floats(0, 1), attempt=st.integers(0, 8),
       cap=st.floats(0.01, 0.5), side=st.sampled_from(list(Side)))
def test_limit_never_concedes_more_than_the_cap_plus_a_tick(mid, half_spread, attempt, cap, side):
    price = limit_price(side, mid, mid - half_spread, mid + half_spread, attempt, 10, cap)
    assert price is not None
    assert slippage_per_share(side, mid, price) <= cap + 0.01 + 1e-9


def test_rounding_favours_the_fill():
    assert round_to_tick(1.057, Side.SELL) == 1.05
    assert round_to_tick(1.051, Side.BUY) == 1.06
    assert round_to_tick(0.001, Side.SELL) == 0.01


def test_order_refs_are_recognised_and_numbered():
    ref = make_order_ref(contract(635, "C"), 3)
    assert ref == "CLN-20261125-SPY-635C-3"
    assert is_cleanup_ref(ref) and not is_cleanup_ref("manual") and not is_cleanup_ref(None)
    assert ref_sequence(ref) == 3
