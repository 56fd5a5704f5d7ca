"""Multi-leg structures for people: the JSON-able status entry, the lines of ``ctl status``, and the
plan's identity that decides when the audit trail hears of a structure again.

The status entry is plain data (it crosses the control socket to ``ctl status`` and the terminal UI),
so the readers here are tolerant of missing keys, as ``domain.commands.format_status`` is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from domain.structure_rules import StructureAssessment, StructurePlan
from domain.structures import Leg

NO_RISK = "no leg at risk"  # domain.structure_rules' reason when no leg's own rule says close


def plan_label(plan: StructurePlan) -> str:
    """A few words for what the plan does with the structure now."""
    if plan.left_alone:
        return "left alone"
    if plan.combo:
        return "close as combo"
    if plan.close and plan.held:
        return "short legs first, longs held"
    if plan.close:
        return "close legs"
    return "watch"


def plan_key(plan: StructurePlan) -> tuple[Any, ...]:
    """What makes two plans of a structure the same plan: a change of any of it is audited once."""
    return (plan.reason, plan.combo, plan.left_alone, tuple(leg.contract.key for leg in plan.close),
            tuple(leg.contract.key for leg in plan.held))


def is_quiet(plan: StructurePlan) -> bool:
    """Nothing to do and nothing held: the plan every structure has before any of its legs is at risk."""
    return not (plan.close or plan.held or plan.combo or plan.left_alone)


def _leg(leg: Leg) -> dict[str, Any]:
    return {"contract": leg.contract.key, "quantity": leg.quantity, "short": leg.is_short}


def structure_status(assessment: StructureAssessment) -> dict[str, Any]:
    """One structure's entry in the status: its legs, delivery profile and reach, and the plan."""
    structure, plan = assessment.structure, assessment.plan
    return {
        "name": structure.name,
        "kind": structure.kind.value,
        "symbol": structure.symbol,
        "expiry": structure.expiry.isoformat(),
        "shares": structure.shares,
        "legs": [_leg(leg) for leg in structure.legs],
        "profile": [{"low": band.low, "high": band.high, "shares": band.shares} for band in assessment.profile],
        "profile_text": assessment.profile_text,
        "spot": assessment.spot,
        "delivery_at_spot": assessment.delivery_at_spot,
        "low": assessment.low,
        "high": assessment.high,
        "fewest": assessment.fewest,
        "most": assessment.most,
        "plan": {"label": plan_label(plan), "reason": plan.reason, "combo": plan.combo, "left_alone": plan.left_alone,
                 "close": [leg.contract.key for leg in plan.close], "held": [leg.contract.key for leg in plan.held]},
        "text": assessment.text(),
    }


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def shares_text(value: Any) -> str:
    return f"{value:+d}" if isinstance(value, int) and not isinstance(value, bool) else "n/a"


def at_spot_text(item: Mapping[str, Any], unit: str = " shares") -> str:
    """``+500 shares at 598.00``, or ``no fresh price``."""
    spot = item.get("spot")
    if not _number(spot):
        return "no fresh price"
    return f"{shares_text(item.get('delivery_at_spot'))}{unit} at {spot:.2f}"


def reach_text(item: Mapping[str, Any], unit: str = " shares") -> str:
    """``596.10-599.90: +500 to +500 shares``: where it can settle by 17:30 ET and the fewest/most delivered."""
    low, high = item.get("low"), item.get("high")
    if not (_number(low) and _number(high)):
        return "n/a"
    return f"{low:.2f}-{high:.2f}: {shares_text(item.get('fewest'))} to {shares_text(item.get('most'))}{unit}"


def legs_text(item: Mapping[str, Any]) -> str:
    legs = [leg for leg in item.get("legs") or [] if isinstance(leg.get("quantity"), int)]
    return ", ".join(f"{leg['quantity']:+d} {leg.get('contract', '?')} ({'short' if leg.get('short') else 'long'})"
                     for leg in legs) or "?"


def plan_text(plan: Mapping[str, Any]) -> str:
    """The plan's label and reason, the label left out where the reason already starts with it."""
    label, reason = str(plan.get("label") or "?"), str(plan.get("reason") or "?")
    return reason if reason.startswith(label) else f"{label}: {reason}"


def structure_lines(items: Sequence[Mapping[str, Any]]) -> list[str]:
    """The ``structures`` block of ``ctl status``; empty when there is no multi-leg structure."""
    if not items:
        return []
    lines = [f"multi-leg structures: {len(items)}"]
    for item in items:
        plan = item.get("plan") or {}
        lines.append(f"  {item.get('name', '?')}")
        lines.append(f"    legs: {legs_text(item)}")
        lines.append(f"    delivery: {item.get('profile_text') or 'n/a'}")
        lines.append(f"    now: {at_spot_text(item)}; by 17:30 ET {reach_text(item)}")
        lines.append(f"    plan: {plan_text(plan)}")
    return lines
