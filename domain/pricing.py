"""Limit prices for a closing order: start at the mid, walk toward the far side, never past the cap.

The walk is linear over the attempts before the last; the last attempt is the final escalation, a
market order, because an exercised position costs far more than any spread.
"""

from __future__ import annotations

import math

from domain.model import Side

TICK = 0.01
MIN_PRICE = 0.01


def round_to_tick(price: float, side: Side) -> float:
    """Round toward the side that fills more easily (down for a sell, up for a buy)."""
    ticks = price / TICK
    rounded = math.floor(ticks + 1e-9) if side is Side.SELL else math.ceil(ticks - 1e-9)
    return max(round(rounded * TICK, 2), MIN_PRICE)


def limit_price(
    side: Side,
    reference_mid: float,
    bid: float | None,
    ask: float | None,
    attempt: int,
    max_attempts: int,
    max_slippage: float,
) -> float | None:
    """The price of attempt ``attempt`` (0-based); ``None`` means a market order (final escalation)."""
    if attempt >= max_attempts - 1:
        return None
    limit_steps = max(max_attempts - 2, 1)
    concession = max_slippage * min(attempt, limit_steps) / limit_steps
    if side is Side.SELL:
        price = reference_mid - concession
        if bid is not None and bid > 0:
            price = max(price, bid)
    else:
        price = reference_mid + concession
        if ask is not None and ask > 0:
            price = min(price, ask)
    return round_to_tick(price, side)


def slippage_per_share(side: Side, reference_mid: float, fill_price: float) -> float:
    """Positive when the fill is worse than the reference mid for us."""
    return reference_mid - fill_price if side is Side.SELL else fill_price - reference_mid
