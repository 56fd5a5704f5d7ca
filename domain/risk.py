"""Moneyness, the seed's risk score and the probability of finishing in the money.

Pure functions of floats: cheap enough to run for every position on every tick.
"""

from __future__ import annotations

import math
from enum import StrEnum

from domain.model import Right

# Trading minutes in a year (252 sessions of 390 minutes): the clock implied volatility runs on.
TRADING_MINUTES_PER_YEAR = 252 * 390
# Holders may exercise until 17:30 ET, 90 minutes after a regular close (pin risk for shorts).
AFTER_HOURS_EXERCISE_MINUTES = 90.0

# Scale of the moneyness logistic: 0.5% of moneyness moves the factor by one e-fold.
MONEYNESS_SCALE = 0.005
# Time constant of the time weight in minutes: the weight is ~0.14 at T-30 and ~0.88 at T-2.
TIME_CONSTANT_MINUTES = 15.0
DEFAULT_IMPLIED_VOL = 0.15


def calculate_moneyness(spot_price: float, strike: float, option_type: str | Right) -> float:
    """Distance from the strike as a fraction of it; positive is in the money (the seed's formula)."""
    right = option_type if isinstance(option_type, Right) else Right.parse(option_type)
    if right is Right.CALL:
        return (spot_price - strike) / strike
    return (strike - spot_price) / strike


def moneyness_factor(moneyness: float) -> float:
    """0-1: a logistic curve of moneyness, 0.5 at the strike, ~0.98 at +2%, ~0.02 at -2%."""
    exponent = -moneyness / MONEYNESS_SCALE
    if exponent > 700:  # far out of the money: avoid overflow, the factor is zero anyway
        return 0.0
    return 1.0 / (1.0 + math.exp(exponent))


def time_weight(minutes_to_close: float) -> float:
    """0-1: rises exponentially as the close approaches, 1 at (or after) the close."""
    return math.exp(-max(minutes_to_close, 0.0) / TIME_CONSTANT_MINUTES)


def volatility_adjustment(moneyness: float, implied_vol: float | None, minutes_to_close: float) -> float:
    """0-1: how likely the market's expected move is to reach the strike.

    In the money the option is exercised without any move, so the adjustment is 1. Out of the money
    it is r / (1 + r) where r is the expected move (one standard deviation to the close plus the
    after-hours window) over the distance to the strike: more volatility, more risk.
    """
    if moneyness >= 0:
        return 1.0
    vol = implied_vol if implied_vol and implied_vol > 0 else DEFAULT_IMPLIED_VOL
    minutes = max(minutes_to_close, 0.0) + AFTER_HOURS_EXERCISE_MINUTES
    expected_move = vol * math.sqrt(minutes / TRADING_MINUTES_PER_YEAR)
    # r / (1 + r) with r = move / distance, written so a vanishing distance gives 1, not inf/inf
    return expected_move / (expected_move - moneyness)


def risk_score(moneyness: float, minutes_to_close: float, implied_vol: float | None = None) -> float:
    """The seed's ``moneyness_factor * time_weight * volatility_adjustment``, on a 0-1 scale."""
    return (
        moneyness_factor(moneyness)
        * time_weight(minutes_to_close)
        * volatility_adjustment(moneyness, implied_vol, minutes_to_close)
    )


def get_risk_score(moneyness: float, minutes_to_close: float) -> float:
    """The seed's test name for :func:`risk_score` with the default volatility."""
    return risk_score(moneyness, minutes_to_close)


class RiskLevel(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


def risk_level(score: float) -> RiskLevel:
    if score >= 0.3:
        return RiskLevel.HIGH
    if score >= 0.1:
        return RiskLevel.MEDIUM
    return RiskLevel.LOW


def normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def probability_itm(
    spot: float,
    strike: float,
    right: Right,
    implied_vol: float | None,
    minutes_to_close: float,
    *,
    rate: float = 0.0,
) -> float:
    """Black-Scholes N(d2) (calls) or N(-d2) (puts) with time measured in trading minutes: the chance a
    long option is exercised by exception at the close (a short's is ``probability_assigned``)."""
    minutes = max(minutes_to_close, 0.0)
    vol = implied_vol if implied_vol and implied_vol > 0 else DEFAULT_IMPLIED_VOL
    years = minutes / TRADING_MINUTES_PER_YEAR
    return _probability_beyond(spot, strike, right, vol * vol * years, rate * years)


def probability_assigned(spot: float, strike: float, right: Right, implied_vol: float | None,
                         minutes_to_close: float, after_hours_minutes: float, after_hours_vol_factor: float) -> float:
    """The chance a short option is assigned: in the money at the close, or at the end of the holders'
    after-hours window (17:30 ET), whichever is likelier.

    The move to the close runs at the option's implied volatility (the day's); the after-hours move at
    ``after_hours_vol_factor`` of it, since the underlying trades thinly and moves less once the
    options have stopped trading. Using the day's volatility for the after-hours window overstates
    the risk of every near-the-money short, and closing them all is what made the seed's false positives.
    """
    vol = implied_vol if implied_vol and implied_vol > 0 else DEFAULT_IMPLIED_VOL
    to_close = vol * vol * max(minutes_to_close, 0.0) / TRADING_MINUTES_PER_YEAR
    after = (after_hours_vol_factor * vol) ** 2 * max(after_hours_minutes, 0.0) / TRADING_MINUTES_PER_YEAR
    return max(_probability_beyond(spot, strike, right, to_close, 0.0),
               _probability_beyond(spot, strike, right, to_close + after, 0.0))


# Standard deviations either side of the price that bound where it can plausibly settle (3: 99.7 %).
SETTLEMENT_RANGE_DEVIATIONS = 3.0


def settlement_range(spot: float, implied_vol: float | None, minutes_to_close: float, after_hours_minutes: float,
                     after_hours_vol_factor: float,
                     deviations: float = SETTLEMENT_RANGE_DEVIATIONS) -> tuple[float, float]:
    """The prices the underlying can plausibly reach by 17:30 ET (the end of the holders' window), as
    ``probability_assigned`` models the moves: the day's volatility to the close, a share of it after."""
    vol = implied_vol if implied_vol and implied_vol > 0 else DEFAULT_IMPLIED_VOL
    variance = (vol * vol * max(minutes_to_close, 0.0)
                + (after_hours_vol_factor * vol) ** 2 * max(after_hours_minutes, 0.0)) / TRADING_MINUTES_PER_YEAR
    reach = deviations * math.sqrt(variance)
    return spot * math.exp(-reach), spot * math.exp(reach)


def _probability_beyond(spot: float, strike: float, right: Right, variance: float, drift: float) -> float:
    """P(the underlying ends beyond the strike, in the money) for a log-normal move of ``variance``."""
    if variance <= 0:
        in_the_money = spot > strike if right is Right.CALL else spot < strike
        return 1.0 if in_the_money else 0.0
    d2 = (math.log(spot / strike) + drift - variance / 2) / math.sqrt(variance)
    return normal_cdf(d2) if right is Right.CALL else normal_cdf(-d2)
