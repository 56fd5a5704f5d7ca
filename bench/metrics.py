"""KPIs of one policy over many days, with the definitions of ``domain.settlement.session_kpis``.

- Exercise prevention rate: positions that would have been exercised or assigned (settled outcome,
  after-hours move included) and were fully closed / all such positions.
- False positive rate: positions with any closing fill that would have expired out of the money /
  positions with any closing fill.
- Slippage: per contract filled, dollars per share worse than the reference mid the order held when
  it filled (the Executor's measure), shown in cents.
- Closure cost: dollars the closes cost against letting the same contracts expire (engine.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from bench.engine import PositionRun
from domain.settlement import Outcome

AT_RISK = (Outcome.EXERCISED, Outcome.ASSIGNED)


@dataclass(frozen=True)
class PolicyKpis:
    policy: str
    positions: int
    at_risk_positions: int
    prevented: int
    missed: int
    exercise_prevention_rate: float
    contracts_exercised_or_assigned: int
    closed_positions: int
    false_positives: int
    false_positive_rate: float
    contracts_closed: int
    mean_slippage_cents: float | None
    p95_slippage_cents: float | None
    closure_cost_dollars: float
    closure_cost_per_contract: float | None
    false_positive_cost_dollars: float
    orders: int
    rejects: int

    def to_dict(self) -> dict:
        return {key: (round(value, 6) if isinstance(value, float) else value) for key, value in asdict(self).items()}


def slippages_cents(runs: Iterable[PositionRun]) -> np.ndarray:
    """One value per contract filled."""
    values, counts = [], []
    for run in runs:
        for quantity, _, slippage in run.fills:
            if slippage is not None:
                values.append(slippage * 100)
                counts.append(quantity)
    return np.repeat(np.asarray(values, dtype=float), np.asarray(counts, dtype=int))


def policy_kpis(policy: str, runs: list[PositionRun]) -> PolicyKpis:
    prevented = sum(r.outcome is Outcome.CLOSED and r.counterfactual in AT_RISK for r in runs)
    missed = [r for r in runs if r.outcome in AT_RISK]
    closed = [r for r in runs if r.closed > 0]
    false_positives = [r for r in closed if r.counterfactual is Outcome.EXPIRED_OTM]
    slips = slippages_cents(runs)
    contracts_closed = sum(r.closed for r in runs)
    cost = sum(r.cost for r in runs)
    denominator = prevented + len(missed)
    return PolicyKpis(
        policy=policy,
        positions=len(runs),
        at_risk_positions=sum(r.counterfactual in AT_RISK for r in runs),
        prevented=prevented,
        missed=len(missed),
        exercise_prevention_rate=prevented / denominator if denominator else 1.0,
        contracts_exercised_or_assigned=sum(r.remaining for r in missed),
        closed_positions=len(closed),
        false_positives=len(false_positives),
        false_positive_rate=len(false_positives) / len(closed) if closed else 0.0,
        contracts_closed=contracts_closed,
        mean_slippage_cents=float(slips.mean()) if slips.size else None,
        p95_slippage_cents=float(np.percentile(slips, 95)) if slips.size else None,
        closure_cost_dollars=cost,
        closure_cost_per_contract=cost / contracts_closed if contracts_closed else None,
        false_positive_cost_dollars=sum(r.cost for r in false_positives),
        orders=sum(r.orders for r in runs),
        rejects=sum(r.rejects for r in runs),
    )
