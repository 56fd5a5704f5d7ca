"""What the RiskAssessor says, and when it has said enough: the rules of its announcements, as data.

The policy decides; these rules decide what of it a person hears, once: a warning once per contract
and stage, the T-30 alert of the positions at risk, the ex-dividend plan, what the policy cannot act
on (once per key), an underlying without a fresh price (once per spell, from T-5), and a multi-leg
structure's plan each time it changes. The actor keeps what was said (its kept state) and sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain import alerts
from domain.mode import Mode
from domain.model import OptionContract
from domain.policy import PolicyResult, StaleUnderlying, Warn
from domain.session import ExpirySession
from domain.stages import Stage
from domain.structure_rules import StructureAssessment
from domain.structure_view import is_quiet, plan_key

_STALE_STAGES = (Stage.T5, Stage.T2)  # an old price matters when closes are due
_DIVIDEND_STAGES = (Stage.T30, Stage.T5, Stage.T2)


def fresh_warnings(result: PolicyResult, warned: Iterable[tuple[OptionContract, str]]) -> list[Warn]:
    """The policy's warnings not announced yet: one per contract and stage."""
    said = set(warned)
    return [d for d in result.decisions if isinstance(d, Warn) and (d.contract, d.stage.value) not in said]


def at_risk_at_t30(fresh: Sequence[Warn]) -> list[Warn]:
    """Of the fresh warnings, those the T-30 alert lists (the ex-dividend ones have their own alert)."""
    return [d for d in fresh if d.stage is Stage.T30 and d.assessment is not None and d.ex_dividend is None]


def ex_dividend_plan(mode: Mode, guard: bool) -> str:
    """What the service will do with the short calls at risk of early assignment, in one line for the trader."""
    if mode is Mode.MONITOR:
        return "Monitor mode: not closed. Close or roll them yourself before the close."
    if not guard:
        return "ex_dividend_guard is off: not closed. Close or roll them yourself before the close."
    return "They will be closed from T-5 if still at risk, as expiring shorts in the money are (ex_dividend_guard)."


@dataclass(frozen=True)
class Notice:
    """Something the policy cannot act on, said once (its alert's key): the contract and size it is about."""

    alert: alerts.Alert
    contract: OptionContract
    quantity: int
    order_id: str | None = None


def notices(result: PolicyResult, session: ExpirySession) -> list[Notice]:
    """Cash-settled contracts left alone, ex-dividend calls that cannot be judged (from T-30), and orders IB
    will not let us touch; the actor says each key once."""
    found = [Notice(alerts.not_watched(p.contract.key, p.quantity), p.contract, p.quantity) for p in result.unwatched]
    if result.stage in _DIVIDEND_STAGES:
        for position in result.dividend_unjudged:
            dividend = session.ex_dividend(position.contract.symbol)
            found.append(Notice(alerts.ex_dividend_unjudged(
                position.contract.key, position.quantity, dividend.describe() if dividend else "goes ex-dividend"),
                position.contract, position.quantity))
    for blocked in result.untouchable:
        order = blocked.order
        found.append(Notice(alerts.blocking_order(alerts.BlockingOrder.of(order, blocked.position, blocked.covers)),
                            order.contract, order.remaining, order.order_id))
    return found


def stale_spells(result: PolicyResult, spells: Iterable[str]) -> tuple[list[StaleUnderlying], set[str]]:
    """The underlyings whose spell without a fresh price starts now (said from T-5 on), and the spells running
    afterwards (a fresh price ends one; before T-5 none starts)."""
    stale = {s.symbol: s for s in result.stale}
    running = set(spells) & stale.keys()
    if result.stage not in _STALE_STAGES:
        return [], running
    starting = [spell for symbol, spell in stale.items() if symbol not in running]
    return starting, running | {s.symbol for s in starting}


def plan_changes(structures: Sequence[StructureAssessment],
                 last: Mapping[str, tuple[Any, ...]]) -> list[tuple[StructureAssessment, tuple[Any, ...]]]:
    """Each multi-leg structure whose plan changed since it was last recorded, with its new plan's key.

    A structure none of whose legs was ever at risk is not recorded; once recorded, every change of its
    plan is, a return to "no leg at risk" included, and a plan seen again unchanged never is."""
    changed = []
    for assessment in structures:
        key, before = plan_key(assessment.plan), last.get(assessment.structure.name)
        if key != before and not (before is None and is_quiet(assessment.plan)):
            changed.append((assessment, key))
    return changed
