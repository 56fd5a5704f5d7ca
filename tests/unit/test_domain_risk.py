import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.model import Right
from domain.risk import (
    TRADING_MINUTES_PER_YEAR,
    RiskLevel,
    calculate_moneyness,
    get_risk_score,
    moneyness_factor,
    probability_assigned,
    probability_itm,
    risk_level,
    risk_score,
    time_weight,
    volatility_adjustment,
)


def test_moneyness_calculation():  # the seed's test
    assert calculate_moneyness(636, 635, "CALL") > 0


def test_risk_assessment():  # the seed's test
    assert get_risk_score(0.01, 30) < get_risk_score(0.01, 2)


@pytest.mark.parametrize(
    ("spot", "strike", "right", "expected"),
    [
        (636, 635, "CALL", 1 / 635),
        (634, 635, "CALL", -1 / 635),
        (634, 635, "PUT", 1 / 635),
        (636, 635, "PUT", -1 / 635),
        (635, 635, "C", 0.0),
        (600, 635, Right.PUT, 35 / 635),
    ],
)
def test_moneyness_both_sides_of_the_money(spot, strike, right, expected):
    assert calculate_moneyness(spot, strike, right) == pytest.approx(expected)


def test_moneyness_rejects_an_unknown_right():
    with pytest.raises(ValueError, match="right"):
        calculate_moneyness(600, 600, "STRADDLE")


def test_factors_stay_on_a_zero_to_one_scale_at_the_extremes():
    assert moneyness_factor(-1.0) == pytest.approx(0.0, abs=1e-12)
    assert moneyness_factor(1.0) == pytest.approx(1.0)
    assert moneyness_factor(0.0) == pytest.approx(0.5)
    assert time_weight(0) == 1.0 and time_weight(-5) == 1.0
    assert 0 < time_weight(390) < 1e-10
    assert volatility_adjustment(0.01, 0.2, 10) == 1.0


@given(
    moneyness=st.floats(-0.2, 0.2),
    minutes=st.floats(0, 390),
    vol=st.one_of(st.none(), st.floats(0.01, 2.0)),
)
def test_risk_score_is_bounded(moneyness, minutes, vol):
    assert 0.0 <= risk_score(moneyness, minutes, vol) <= 1.0


@given(moneyness=st.floats(-0.05, 0.05), early=st.floats(0.5, 390), later=st.floats(0, 390))
def test_risk_rises_as_the_close_approaches(moneyness, early, later):
    if later < early:
        assert risk_score(moneyness, later) >= risk_score(moneyness, early)


@given(low=st.floats(-0.05, 0.05), high=st.floats(-0.05, 0.05), minutes=st.floats(0, 60))
def test_risk_rises_with_moneyness(low, high, minutes):
    if low < high:
        assert risk_score(low, minutes) <= risk_score(high, minutes) + 1e-12


def test_more_volatility_means_more_risk_out_of_the_money():
    assert risk_score(-0.01, 10, 0.10) < risk_score(-0.01, 10, 0.40)


def test_risk_levels():
    assert risk_level(get_risk_score(0.01, 2)) is RiskLevel.HIGH
    assert risk_level(get_risk_score(-0.03, 30)) is RiskLevel.LOW


ONE_YEAR = TRADING_MINUTES_PER_YEAR


@pytest.mark.parametrize(
    ("spot", "strike", "vol", "right", "expected"),
    [
        # N(d2) with r=0, T=1: d2 = ln(S/K)/sigma - sigma/2; reference values from the normal table
        (100, 100, 0.2, Right.CALL, 0.460172),  # N(-0.1)
        (100, 100, 0.2, Right.PUT, 0.539828),
        (110, 100, 0.2, Right.CALL, 0.646746),  # d2 = 0.376551
        (90, 100, 0.3, Right.PUT, 0.691885),  # d2 = -0.501202 -> N(0.501202)
    ],
)
def test_probability_matches_black_scholes(spot, strike, vol, right, expected):
    assert probability_itm(spot, strike, right, vol, ONE_YEAR) == pytest.approx(expected, abs=1e-5)


def test_probability_at_the_close_is_the_settlement():
    assert probability_itm(636, 635, Right.CALL, 0.2, 0) == 1.0
    assert probability_itm(634, 635, Right.CALL, 0.2, 0) == 0.0


def test_short_options_carry_after_hours_pin_risk():
    long_ = probability_itm(634, 635, Right.CALL, 0.15, 0)
    short = probability_assigned(634, 635, Right.CALL, 0.15, 0, 90, 1.0)
    assert long_ == 0.0 and 0.05 < short < 0.5


def test_a_quieter_after_hours_market_lowers_the_chance_of_assignment():
    """-0.3% at T-2: half the day's volatility after hours is a fraction of the full-volatility figure."""
    full = probability_assigned(633.1, 635, Right.CALL, 0.15, 2, 90, 1.0)
    quiet = probability_assigned(633.1, 635, Right.CALL, 0.15, 2, 90, 0.5)
    assert quiet < full / 2 and quiet > 0


def test_an_in_the_money_short_is_judged_on_the_close_when_that_is_likelier():
    at_close = probability_itm(636, 635, Right.CALL, 0.15, 2)
    assert probability_assigned(636, 635, Right.CALL, 0.15, 2, 90, 0.5) == pytest.approx(at_close)


@given(spot=st.floats(600, 680), minutes=st.floats(0, 30), after=st.floats(0, 270), factor=st.floats(0, 1))
def test_assignment_is_never_less_likely_than_finishing_in_the_money(spot, minutes, after, factor):
    assigned = probability_assigned(spot, 640, Right.PUT, 0.2, minutes, after, factor)
    assert assigned >= probability_itm(spot, 640, Right.PUT, 0.2, minutes) - 1e-12


@given(spot=st.floats(500, 700), vol=st.floats(0.05, 1.0), minutes=st.floats(0.1, 390))
def test_call_and_put_probabilities_sum_to_one(spot, vol, minutes):
    call = probability_itm(spot, 600, Right.CALL, vol, minutes)
    put = probability_itm(spot, 600, Right.PUT, vol, minutes)
    assert math.isclose(call + put, 1.0, abs_tol=1e-9)
