"""Black-Scholes option value with time in trading minutes (the simulator's fair value)."""

from __future__ import annotations

import math

from domain.model import Right
from domain.risk import TRADING_MINUTES_PER_YEAR, normal_cdf
from domain.settlement import intrinsic


def black_scholes(spot: float, strike: float, right: Right, vol: float, minutes: float, rate: float = 0.0) -> float:
    years = max(minutes, 0.0) / TRADING_MINUTES_PER_YEAR
    if years <= 0 or vol <= 0:
        return intrinsic(right, strike, spot)
    root = vol * math.sqrt(years)
    d1 = (math.log(spot / strike) + (rate + vol * vol / 2) * years) / root
    d2 = d1 - root
    discount = math.exp(-rate * years)
    if right is Right.CALL:
        return spot * normal_cdf(d1) - strike * discount * normal_cdf(d2)
    return strike * discount * normal_cdf(-d2) - spot * normal_cdf(-d1)
