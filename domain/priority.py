"""Which close goes out first: the riskiest.

At IB's pacing (45 messages a second) a thousand closes take over twenty seconds to send, so the
order they are sent in matters: the last ones may go out seconds before the bell. The rule, in one
place: in-the-money positions before near-the-money ones; at equal moneyness class, shorts before
longs (a short can be assigned after hours; a long can be lapsed); then deeper in the money first.
A position with no moneyness known (no price: an emergency close) ranks as the deepest in the money:
nothing says it is safe.

Pure and decision-agnostic: ``domain.policy`` maps each closing decision to (short?, moneyness) and
sorts by ``close_priority``.
"""

from __future__ import annotations

import math


def close_priority(short: bool, moneyness: float | None) -> tuple[int, int, float]:
    """The sort key of one close (smaller goes first)."""
    depth = math.inf if moneyness is None else moneyness
    in_the_money = depth > 0
    return (0 if in_the_money else 1, 0 if short else 1, -depth)
