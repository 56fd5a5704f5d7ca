"""The morning's disposal of delivered shares: how many, on which side, at which prices (pure).

Only the shares attributed to the expiration (domain.assignments) are sold (or bought back), never more than the
account still holds on that side, so the trader's own shares are never touched. The order is a marketable limit:
it starts at the touch (the bid for a sale, the ask for a buy) and walks away from it, attempt by attempt, up to
``dispose_band`` of that price; the last attempt is a market order. The walk is the closing orders' own
(domain.execution.price_at / walk_step), with the touch as its reference and the band as its slippage cap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from domain.execution import Priced, WalkStep, price_at, walk_step
from domain.model import Quote, Side


@dataclass(frozen=True)
class DisposalWalk:
    """The walk's settings (domain.execution.WalkSettings) for one disposal: the band in dollars of its touch."""

    max_attempts: int
    attempt_interval_seconds: float
    max_slippage: float


def disposal_side(attributed: int) -> Side:
    return Side.SELL if attributed > 0 else Side.BUY


def shares_to_dispose(attributed: int, held_now: int) -> int:
    """The attributed shares the account still holds (unsigned); none when it holds none on that side."""
    if attributed == 0 or held_now == 0 or (attributed > 0) != (held_now > 0):
        return 0
    return min(abs(attributed), abs(held_now))


def touch(side: Side, quote: Quote | None) -> float | None:
    """The price a marketable order meets: the bid for a sale, the ask for a buy (None without one)."""
    if quote is None:
        return None
    price = quote.bid if side is Side.SELL else quote.ask
    return price if price is not None and price > 0 else None


def walk_for(side: Side, quote: Quote | None, band: float, max_attempts: int, interval: float) -> DisposalWalk:
    reference = touch(side, quote)
    return DisposalWalk(max_attempts, interval, band * reference if reference is not None else 0.0)


def first_price(side: Side, quote: Quote | None, walk: DisposalWalk) -> Priced:
    """At the touch; a market order at once when there is no quote to be marketable against."""
    return price_at(side, touch(side, quote), None, None, 0, walk)


def next_price(side: Side, quote: Quote | None, working: Priced, used: int, seconds_since_priced: float,
               walk: DisposalWalk) -> WalkStep | None:
    """The working order's next price, on the touch now (None: not due yet, or no attempt left)."""
    return walk_step(side, touch(side, quote), None, None, working, used, seconds_since_priced, math.inf, walk)
