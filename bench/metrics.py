"""KPIs of one policy over many days, with the definitions of ``domain.settlement.session_kpis``.

- Exercise prevention rate: positions that would have been exercised or assigned (settled outcome,
  after-hours move included) and were fully closed, or lapsed after the close / all such positions.
- False positive rate: positions with any closing fill that would have expired out of the money /
  positions with any closing fill.
- Slippage: per contract filled, dollars per share worse than the reference mid the order held when
  it filled (the Executor's measure), shown in cents.
- Closure cost: dollars the closes cost against letting the same contracts expire (engine.py).
- False-positive cost: on positions that would have expired worthless, the spread our fills paid
  (against the option's mid at the fill) plus commission.
- Each rate also for longs and shorts apart: they are different risks (a long is exercised only if in
  the money at the close; a short can be assigned on the after-hours move).
- And for spread legs and single legs apart (a position is a spread leg when domain.structures puts it, or
  part of it, in a vertical, butterfly or iron condor), with the naked contracts left: the contracts' worth
  of shares expiration delivered beyond what leaving every position alone would have, calls and puts
  netted apart as the account nets them (bench/engine.py ``naked_contracts``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bench.engine import DayTally, PositionRun
from domain.settlement import Outcome

AT_RISK = (Outcome.EXERCISED, Outcome.ASSIGNED)
KEPT_FROM_EXERCISE = (Outcome.CLOSED, Outcome.LAPSED)  # a lapsed long is prevented, never a false positive


@dataclass(frozen=True)
class SideKpis:
    at_risk_positions: int
    prevented: int
    exercise_prevention_rate: float
    closed_positions: int
    false_positives: int
    false_positive_rate: float
    false_positive_cost_dollars: float


def side_kpis(runs: list[PositionRun]) -> SideKpis:
    at_risk = [r for r in runs if r.counterfactual in AT_RISK]
    prevented = sum(r.outcome in KEPT_FROM_EXERCISE for r in at_risk)
    closed = [r for r in runs if r.closed > 0]
    false_positives = [r for r in closed if r.counterfactual is Outcome.EXPIRED_OTM]
    return SideKpis(len(at_risk), prevented, prevented / len(at_risk) if at_risk else 1.0, len(closed),
                    len(false_positives), len(false_positives) / len(closed) if closed else 0.0,
                    sum(r.spread_paid for r in false_positives))


@dataclass(frozen=True)
class LegKpis:
    """The headline rates for one group of positions (spread legs, or single legs)."""

    positions: int
    at_risk_positions: int
    prevented: int
    exercise_prevention_rate: float
    closed_positions: int
    false_positives: int
    false_positive_rate: float
    contracts_exercised_or_assigned: int


def leg_kpis(runs: list[PositionRun]) -> LegKpis:
    side = side_kpis(runs)
    return LegKpis(len(runs), side.at_risk_positions, side.prevented, side.exercise_prevention_rate,
                   side.closed_positions, side.false_positives, side.false_positive_rate,
                   sum(r.remaining for r in runs if r.outcome in AT_RISK))


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
    contracts_lapsed: int  # longs lapsed after the close; their value given up is in the closure cost
    long: SideKpis
    short: SideKpis
    spread_legs: LegKpis
    single_legs: LegKpis
    structures: int = 0  # spreads (vertical, butterfly, iron condor) among the positions
    naked_legs_left: int = 0  # contracts delivered beyond leaving everything alone (engine.naked_contracts)
    combos: int = 0  # combo orders placed

    def to_dict(self) -> dict:
        return _rounded(asdict(self))


def _rounded(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    return round(value, 6) if isinstance(value, float) else value


def slippages_cents(runs: Iterable[PositionRun]) -> np.ndarray:
    """One value per contract filled."""
    values, counts = [], []
    for run in runs:
        for quantity, _, slippage in run.fills:
            if slippage is not None:
                values.append(slippage * 100)
                counts.append(quantity)
    return np.repeat(np.asarray(values, dtype=float), np.asarray(counts, dtype=int))


def policy_kpis(policy: str, runs: list[PositionRun], tally: DayTally | None = None) -> PolicyKpis:
    everything = side_kpis(runs)
    prevented = everything.prevented
    missed = [r for r in runs if r.outcome in AT_RISK]
    slips = slippages_cents(runs)
    contracts_closed = sum(r.closed for r in runs)
    cost = sum(r.cost for r in runs)
    denominator = prevented + len(missed)
    return PolicyKpis(
        policy=policy,
        positions=len(runs),
        at_risk_positions=everything.at_risk_positions,
        prevented=prevented,
        missed=len(missed),
        exercise_prevention_rate=prevented / denominator if denominator else 1.0,
        contracts_exercised_or_assigned=sum(r.remaining for r in missed),
        closed_positions=everything.closed_positions,
        false_positives=everything.false_positives,
        false_positive_rate=everything.false_positive_rate,
        contracts_closed=contracts_closed,
        mean_slippage_cents=float(slips.mean()) if slips.size else None,
        p95_slippage_cents=float(np.percentile(slips, 95)) if slips.size else None,
        closure_cost_dollars=cost,
        closure_cost_per_contract=cost / contracts_closed if contracts_closed else None,
        false_positive_cost_dollars=everything.false_positive_cost_dollars,
        orders=sum(r.orders for r in runs),
        rejects=sum(r.rejects for r in runs),
        contracts_lapsed=sum(r.lapsed for r in runs),
        long=side_kpis([r for r in runs if r.position.quantity > 0]),
        short=side_kpis([r for r in runs if r.position.quantity < 0]),
        spread_legs=leg_kpis([r for r in runs if r.structure != "single"]),
        single_legs=leg_kpis([r for r in runs if r.structure == "single"]),
        structures=tally.structures if tally else 0,
        naked_legs_left=tally.naked_legs_left if tally else 0,
        combos=tally.combos if tally else 0,
    )
