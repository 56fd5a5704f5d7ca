"""What happens to a position at expiration, and the KPIs of a session.

OCC exercises by exception every option $0.01 or more in the money at the close. Holders may still
exercise until 17:30 ET, so a short option is also assigned when the after-hours price puts it in
the money (pin risk).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from domain.model import Position, Right

EXERCISE_THRESHOLD = 0.01


class Outcome(StrEnum):
    CLOSED = "closed"
    EXPIRED_OTM = "expired_otm"
    EXERCISED = "exercised"
    ASSIGNED = "assigned"
    OPEN = "open"  # not expiring this session


def intrinsic(right: Right, strike: float, spot: float) -> float:
    return max(spot - strike, 0.0) if right is Right.CALL else max(strike - spot, 0.0)


def settle(position: Position, spot_at_close: float, spot_after_hours: float) -> Outcome:
    contract = position.contract
    in_the_money_at_close = intrinsic(contract.right, contract.strike, spot_at_close) >= EXERCISE_THRESHOLD
    if position.quantity > 0:
        return Outcome.EXERCISED if in_the_money_at_close else Outcome.EXPIRED_OTM
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
class SessionKpis:
    exercise_prevention_rate: float
    false_positive_rate: float
    mean_slippage: float | None
    exercised_contracts: int
    prevented_positions: int
    closed_positions: int


def session_kpis(results: Sequence[PositionResult]) -> SessionKpis:
    """Prevention: positions that would have been exercised/assigned, closed instead / all such.

    False positive: closed positions that would have expired out of the money / all closed.
    With nothing to prevent the prevention rate is 1.0; with nothing closed the false-positive rate is 0.
    """
    at_risk_outcomes = (Outcome.EXERCISED, Outcome.ASSIGNED)
    closed = [r for r in results if r.outcome is Outcome.CLOSED]
    prevented = [r for r in closed if r.counterfactual in at_risk_outcomes]
    missed = [r for r in results if r.outcome in at_risk_outcomes]
    false_positives = [r for r in closed if r.counterfactual is Outcome.EXPIRED_OTM]
    denominator = len(prevented) + len(missed)
    weighted = [(r.mean_slippage, r.closed_quantity) for r in closed if r.mean_slippage is not None]
    total = sum(quantity for _, quantity in weighted)
    return SessionKpis(
        exercise_prevention_rate=len(prevented) / denominator if denominator else 1.0,
        false_positive_rate=len(false_positives) / len(closed) if closed else 0.0,
        mean_slippage=sum(s * q for s, q in weighted) / total if total else None,
        exercised_contracts=sum(abs(r.position.quantity) for r in missed),
        prevented_positions=len(prevented),
        closed_positions=len(closed),
    )
