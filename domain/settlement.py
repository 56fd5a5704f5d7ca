"""What happens to a position at expiration, and the KPIs of a session.

OCC exercises by exception every option $0.01 or more in the money at the close. Holders may still
exercise until 17:30 ET, so a short option is also assigned when the after-hours price puts it in
the money (pin risk).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from domain.model import SHARES_PER_CONTRACT, Position, Quote, Right, Side

EXERCISE_THRESHOLD = 0.01
# Fills of orders executed in the last second before the bell can be reported a little after it;
# the live service waits this long after the close before it settles the session.
SETTLE_AFTER_CLOSE = timedelta(seconds=30)
# Until then it waits for a usable closing price of every underlying; after it, it settles with the
# prices it has (the alert on positions left open must not wait for a feed that may not come back).
SETTLE_DEADLINE = timedelta(minutes=5)


class Outcome(StrEnum):
    CLOSED = "closed"
    EXPIRED_OTM = "expired_otm"
    EXERCISED = "exercised"
    ASSIGNED = "assigned"
    LAPSED = "lapsed"  # a long in the money at the close that a lapse instruction kept from exercise
    OPEN = "open"  # not expiring this session


def intrinsic(right: Right, strike: float, spot: float) -> float:
    return max(spot - strike, 0.0) if right is Right.CALL else max(strike - spot, 0.0)


def settle(position: Position, spot_at_close: float, spot_after_hours: float, lapsed: int = 0) -> Outcome:
    """``lapsed``: contracts of a long a lapse instruction covers; all of them lapsed, it is not exercised."""
    contract = position.contract
    in_the_money_at_close = intrinsic(contract.right, contract.strike, spot_at_close) >= EXERCISE_THRESHOLD
    if position.quantity > 0:
        if not in_the_money_at_close:
            return Outcome.EXPIRED_OTM
        return Outcome.LAPSED if lapsed >= position.quantity else Outcome.EXERCISED
    in_the_money_after = intrinsic(contract.right, contract.strike, spot_after_hours) >= EXERCISE_THRESHOLD
    return Outcome.ASSIGNED if in_the_money_at_close or in_the_money_after else Outcome.EXPIRED_OTM


@dataclass(frozen=True)
class PositionResult:
    """One position of the session: what happened, and what would have happened if left alone."""

    position: Position
    outcome: Outcome
    counterfactual: Outcome  # settlement had the position been left open
    closed_quantity: int = 0
    mean_slippage: float | None = None  # dollars per share, positive is worse than the mid


@dataclass(frozen=True)
class SessionCounts:
    """What the KPI counters count: ``prevented`` and ``false_positives`` split ``closed``."""

    prevented: int  # closed (or lapsed) by us, would have been exercised or assigned
    left_in_the_money: int  # still open, and exercised or assigned
    false_positives: int  # closed by us, would have expired out of the money
    closed: int


_AT_RISK = (Outcome.EXERCISED, Outcome.ASSIGNED)


def session_counts(results: Sequence[PositionResult]) -> SessionCounts:
    closed = [r for r in results if r.outcome is Outcome.CLOSED]
    kept_from_exercise = [r for r in results if r.outcome in (Outcome.CLOSED, Outcome.LAPSED)]
    return SessionCounts(
        prevented=sum(r.counterfactual in _AT_RISK for r in kept_from_exercise),
        left_in_the_money=sum(r.outcome in _AT_RISK for r in results),
        false_positives=sum(r.counterfactual is Outcome.EXPIRED_OTM for r in closed),
        closed=len(closed),
    )


def closed_quantity(side: Side, quantity: int) -> int:
    """The signed position a closing fill took away: selling closes a long, buying a short."""
    return -side.signed(quantity)


def settle_at_close(open_at_close: Sequence[Position], closed_by_us: Sequence[Position],
                    prices_at_close: Mapping[str, float]) -> SessionCounts:
    """The session's KPI counts as known at the bell, before any after-hours move.

    Each position is settled on its own underlying's price at the close (``prices_at_close``, by
    symbol); one whose underlying has no price there (a cash-settled index option, never quoted, or
    an underlying no feed priced) is left out of the counts. ``closed_by_us`` holds, per contract,
    the signed quantity our fills closed that day. A contract still open at the close counts as open
    (left in the money or not) even if we closed part of it, as the simulation's summary counts it.
    The after-hours price is unknown at the close, so a short option out of the money at the bell
    counts as expiring worthless here even if it is assigned later (pin risk): the counterfactual is
    "exercised by exception at the close".
    """
    def at_the_bell(position: Position) -> Outcome:
        price = prices_at_close[position.contract.symbol]
        return settle(position, price, price)

    def priced(positions: Sequence[Position]) -> list[Position]:
        return [p for p in positions if p.quantity and p.contract.symbol in prices_at_close]

    still_open = {p.contract for p in open_at_close if p.quantity}
    results = [PositionResult(p, at_the_bell(p), at_the_bell(p)) for p in priced(open_at_close)]
    results += [PositionResult(p, Outcome.CLOSED, at_the_bell(p), abs(p.quantity))
                for p in priced(closed_by_us) if p.contract not in still_open]
    return session_counts(results)


def closing_spot(last_before_close: Quote | None, latest: Quote | None, close: datetime, now: datetime,
                 max_age_seconds: float) -> float | None:
    """One underlying's price to settle the session with, or None while there is none worth using.

    The last quote at or before the close, if it was fresh at the bell; when the feed was out at
    the close, the first fresh quote after it (the best price known, if not exactly the close).
    """
    if last_before_close is not None and last_before_close.age_seconds(close) <= max_age_seconds:
        return last_before_close.mid
    if latest is not None and latest.at >= close and latest.age_seconds(now) <= max_age_seconds:
        return latest.mid
    return None


@dataclass(frozen=True)
class SessionKpis:
    exercise_prevention_rate: float
    false_positive_rate: float
    mean_slippage: float | None
    exercised_contracts: int
    prevented_positions: int
    closed_positions: int
    # Net shares the contracts exercised or assigned delivered into the account (negative: out of it). A spread
    # left to settle in the money is exercised and assigned but delivers none: that is what counts for a trader.
    shares_delivered: int = 0


def shares_per_contract(position: Position) -> int:
    """Signed shares one contract of this position delivers when exercised or assigned: a long call or a short
    put brings them in (+multiplier), a long put or a short call takes them out (-multiplier)."""
    direction = 1 if position.contract.right is Right.CALL else -1
    return position.multiplier * direction * (1 if position.quantity > 0 else -1)


def delivery(position: Position, outcome: Outcome) -> int:
    """Signed shares the whole position delivers with this outcome (none unless exercised or assigned)."""
    return abs(position.quantity) * shares_per_contract(position) if outcome in _AT_RISK else 0


def delivered_shares(result: PositionResult, multiplier: int = SHARES_PER_CONTRACT) -> int:
    """Shares an exercised or assigned position delivered (a long call or short put: in; the others: out)."""
    if result.outcome not in _AT_RISK:
        return 0
    position = result.position
    left = abs(position.quantity) - result.closed_quantity
    return left * shares_per_contract(replace(position, multiplier=multiplier))


def session_kpis(results: Sequence[PositionResult]) -> SessionKpis:
    """Prevention: positions that would have been exercised/assigned, closed instead / all such.

    False positive: closed positions that would have expired out of the money / all closed.
    With nothing to prevent the prevention rate is 1.0; with nothing closed the false-positive rate is 0.
    """
    counts = session_counts(results)
    denominator = counts.prevented + counts.left_in_the_money
    closed = [r for r in results if r.outcome is Outcome.CLOSED]
    weighted = [(r.mean_slippage, r.closed_quantity) for r in closed if r.mean_slippage is not None]
    total = sum(quantity for _, quantity in weighted)
    return SessionKpis(
        exercise_prevention_rate=counts.prevented / denominator if denominator else 1.0,
        false_positive_rate=counts.false_positives / counts.closed if counts.closed else 0.0,
        mean_slippage=sum(s * q for s, q in weighted) / total if total else None,
        # what was left open of a position partly closed is what was exercised or assigned
        exercised_contracts=sum(abs(r.position.quantity) - r.closed_quantity for r in results if r.outcome in _AT_RISK),
        prevented_positions=counts.prevented,
        closed_positions=counts.closed,
        shares_delivered=sum(delivered_shares(r) for r in results),
    )
