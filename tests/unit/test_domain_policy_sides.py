"""Long and short options judged as the different risks they are (domain.closing_rules)."""

from dataclasses import replace
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from config.loader import load_settings
from domain.closing_rules import ClosingRules
from domain.policy import Close, StageAction, Warn, determine_actions
from domain.stages import Thresholds
from tests.support.domain_builders import at_minutes, contract, inputs, option_quote, position

SEED_FILE = Path(__file__).resolve().parents[2] / "config" / "seed.toml"
SIDE_AWARE = ClosingRules(lapse_longs=True, long_min_bid=0.05, short_assignment_probability=0.05,
                          after_hours_vol_factor=0.5)
ITM_CALL = contract(638, "C")  # spot 640: +0.31%
NEAR_CALL = contract(642, "C")  # spot 640: -0.31%, inside T-2's band
NEAR_PUT = contract(638, "P")  # spot 640: -0.31%
EDGE_PUT = contract(637, "P")  # spot 640: -0.47%, inside T-2's band, far for a quiet after-hours market


def closed(result):
    return {d.contract: d for d in result.decisions if isinstance(d, Close)}


def actions(result):
    return {a.contract: a.action for a in result.assessments}


def test_a_long_in_the_money_with_a_bid_worth_having_is_sold_at_t2_not_before():
    at_t5 = determine_actions(inputs([position(ITM_CALL, 2)], 640, 4, rules=SIDE_AWARE))
    assert not closed(at_t5) and actions(at_t5)[ITM_CALL] is StageAction.WATCH
    result = determine_actions(inputs([position(ITM_CALL, 2)], 640, 1.5, rules=SIDE_AWARE))
    (close,) = closed(result).values()
    assert close.quantity == 2 and "worth selling" in close.reason


def test_a_long_whose_bid_is_below_the_minimum_is_left_to_lapse():
    quotes = {ITM_CALL.key: option_quote(ITM_CALL, 0.04, at_minutes(1), spread=0.02)}
    result = determine_actions(inputs([position(ITM_CALL, 2)], 640, 1, quotes=quotes, rules=SIDE_AWARE))
    assert not closed(result) and actions(result)[ITM_CALL] is StageAction.WATCH


def test_a_long_near_the_money_is_left_alone_at_t2_though_the_seed_would_sell_it():
    seed = determine_actions(inputs([position(NEAR_CALL, 3)], 640, 1.5))
    side_aware = determine_actions(inputs([position(NEAR_CALL, 3)], 640, 1.5, rules=SIDE_AWARE))
    assert NEAR_CALL in closed(seed)
    assert not closed(side_aware)
    assert [d.contract for d in side_aware.decisions if isinstance(d, Warn)] == [NEAR_CALL]


def test_without_lapse_a_long_follows_its_own_t2_band():
    rules = ClosingRules(lapse_longs=False)
    narrow = Thresholds(t2_moneyness_long=0.002)
    result = determine_actions(inputs([position(NEAR_CALL, 3), position(NEAR_PUT, -3)], 640, 1.5,
                                      thresholds=narrow, rules=rules))
    assert set(closed(result)) == {NEAR_PUT}


def test_every_short_inside_the_t2_band_is_closed_and_beyond_it_only_on_its_chance_of_assignment():
    """The seed's band is the floor. -0.78% is beyond it: left on a quiet day (IV 15%), closed when the
    option's implied volatility (60%) puts assignment by 17:30 ET within reach."""
    far_put = contract(635, "P")
    held = [position(NEAR_PUT, -1), position(EDGE_PUT, -1), position(far_put, -1)]
    quiet = determine_actions(inputs(held, 640, 1.5, rules=SIDE_AWARE))
    assert set(closed(quiet)) == {NEAR_PUT, EDGE_PUT}
    assert "chance of assignment by 17:30 ET" in closed(quiet)[NEAR_PUT].reason
    now = at_minutes(1.5)
    volatile = {c.key: replace(option_quote(c, 1.0, now), implied_vol=0.6) for c in (NEAR_PUT, EDGE_PUT, far_put)}
    stormy = determine_actions(inputs(held, 640, 1.5, quotes=volatile, rules=SIDE_AWARE))
    assert set(closed(stormy)) == {NEAR_PUT, EDGE_PUT, far_put}
    probability = {a.contract: a.probability_itm for a in stormy.assessments}
    assert probability[far_put] > SIDE_AWARE.short_assignment_probability
    assert far_put not in closed(determine_actions(inputs(held, 640, 1.5, quotes=volatile)))  # the seed: band only


def test_a_short_in_the_money_is_always_closed_whatever_the_level():
    result = determine_actions(inputs([position(contract(642, "P"), -2)], 640, 4, rules=SIDE_AWARE))
    assert contract(642, "P") in closed(result)


def test_the_seed_file_restores_the_seed_rules():
    settings = load_settings(SEED_FILE, environ={}).settings
    assert settings.rules == ClosingRules()
    assert settings.thresholds == Thresholds()


def test_the_defaults_are_side_aware():
    settings = load_settings(environ={}).settings
    assert settings.rules.lapse_longs and settings.rules.short_assignment_probability < 1


@given(spot=st.floats(600, 680), strike=st.integers(600, 680), right=st.sampled_from("CP"),
       quantity=st.integers(-5, 5).filter(bool), minutes=st.floats(0.1, 5))
def test_side_aware_rules_close_fewer_longs_and_more_shorts_than_the_seed(spot, strike, right, quantity, minutes):
    """A long the seed would not close is never closed; a short the seed closes is always closed."""
    held = position(contract(strike, right), quantity)
    seed = set(closed(determine_actions(inputs([held], spot, minutes))))
    side_aware = set(closed(determine_actions(inputs([held], spot, minutes, rules=SIDE_AWARE))))
    if quantity > 0:
        assert side_aware <= seed
    else:
        assert seed <= side_aware
