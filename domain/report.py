"""The daily cleanup narrative (pure): from audit records to the numbers ALM reporting wants.

Definitions (the SQL view alm_reporting.cleanup_summary computes the same; tests hold them equal):
  actions             every audit record of the session day (America/New_York date of its time)
  success rate        successful / (records with an outcome, success true or false)
  contracts closed    sum of |quantity| over FILL records not marked failed
  exercise avoided    notional of those fills: contracts x 100 x strike. Every position the cleanup
                      closes was at risk of exercise or assignment by the policy, so all of it counts.
  P&L impact          sum of pnl_impact over all records (the cleanup's cost or gain against holding)
  failures            records with success false, with their error (or reason)
  morning             the morning check of the previous session's expiration (what was exercised or
                      assigned, the shares it delivered, their exposure and margin) and any disposal of
                      those shares at the open, one line each (their records' reasons)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from domain.audit import ActionKind, ActionRecord
from domain.model import SHARES_PER_CONTRACT
from domain.session import EASTERN


@dataclass(frozen=True)
class Failure:
    at: datetime
    action: str
    symbol: str
    why: str


@dataclass(frozen=True)
class DaySummary:
    day: date
    actions: int
    successful: int
    failed: int
    contracts_closed: int
    exercise_avoided: float
    pnl_impact: float
    by_action: tuple[tuple[str, int], ...]
    failures: tuple[Failure, ...]
    morning: tuple[str, ...] = ()

    @property
    def success_rate(self) -> float | None:
        outcomes = self.successful + self.failed
        return self.successful / outcomes if outcomes else None


def session_day(instant: datetime, zone: ZoneInfo = EASTERN) -> date:
    return instant.astimezone(zone).date()


def summarize_day(day: date, records: Iterable[ActionRecord]) -> DaySummary:
    records = list(records)
    fills = [(r, r.quantity) for r in records
             if r.action is ActionKind.FILL and r.success is not False and r.quantity is not None]
    counts: dict[str, int] = {}
    for record in records:
        counts[record.action.value] = counts.get(record.action.value, 0) + 1
    return DaySummary(
        day=day,
        actions=len(records),
        successful=sum(1 for r in records if r.success is True),
        failed=sum(1 for r in records if r.success is False),
        contracts_closed=sum(abs(quantity) for _, quantity in fills),
        exercise_avoided=sum(abs(quantity) * SHARES_PER_CONTRACT * r.strike
                             for r, quantity in fills if r.strike is not None),
        pnl_impact=round(sum(r.pnl_impact for r in records if r.pnl_impact is not None), 2),
        by_action=tuple(sorted(counts.items())),
        failures=tuple(Failure(r.at, r.action.value, r.symbol, r.error or r.reason or "no reason recorded")
                       for r in records if r.success is False),
        morning=tuple(r.reason for r in records if r.action in _MORNING and r.reason),
    )


_MORNING = (ActionKind.MORNING_CHECK, ActionKind.DISPOSAL)


def daily_summaries(records: Iterable[ActionRecord], days: Iterable[date] | None = None,
                    zone: ZoneInfo = EASTERN) -> list[DaySummary]:
    """One summary per session day, oldest first; days given explicitly appear even when empty."""
    by_day: dict[date, list[ActionRecord]] = {day: [] for day in days or ()}
    for record in sorted(records, key=lambda r: r.at):
        by_day.setdefault(session_day(record.at, zone), []).append(record)
    return [summarize_day(day, by_day[day]) for day in sorted(by_day)]


def narrative(summary: DaySummary, zone: ZoneInfo = EASTERN) -> list[str]:
    """The day in a few lines, as the ALM daily narrative prints it."""
    head = f"{summary.day.isoformat()} ({summary.day:%A}): "
    if not summary.actions:
        return [head + "no cleanup actions"]
    rate = "n/a" if summary.success_rate is None else f"{summary.success_rate:.1%}"
    lines = [
        head + f"{summary.actions} cleanup actions, {summary.successful} succeeded, {summary.failed} failed "
               f"(success rate {rate})",
        f"  contracts closed: {summary.contracts_closed}",
        f"  exercise avoided: ${summary.exercise_avoided:,.2f} notional",
        f"  P&L impact of the cleanup: {_money(summary.pnl_impact)}",
        "  by action: " + ", ".join(f"{name} {count}" for name, count in summary.by_action),
    ]
    lines += [f"  morning check: {line}" for line in summary.morning]
    for failure in summary.failures:
        local = failure.at.astimezone(zone)
        lines.append(f"  failed {local:%H:%M:%S} {failure.action} {failure.symbol or '-'}: {failure.why}")
    return lines


def _money(amount: float) -> str:
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"
