"""The end-of-run summary: each position's outcome, the action timeline and the KPIs, as text or JSON."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from domain.audit import ActionKind, ActionRecord
from domain.session import EASTERN
from domain.settlement import Outcome
from simulation.runner import SimulationResult

TIMELINE_KINDS = (ActionKind.CLOSE, ActionKind.FILL, ActionKind.REJECT, ActionKind.CANCEL, ActionKind.CONVERT_STOP,
                  ActionKind.BREAKER, ActionKind.WARN, ActionKind.ESCALATION, ActionKind.SETTLEMENT,
                  ActionKind.DELIVERY, ActionKind.MORNING_CHECK, ActionKind.DISPOSAL)
MORNING_KINDS = (ActionKind.MORNING_CHECK, ActionKind.DELIVERY, ActionKind.DISPOSAL)


def _contract(record: ActionRecord) -> str:
    if record.strike is None:
        return record.reason.split(":")[0] if record.action is ActionKind.SETTLEMENT else "-"
    return f"{record.symbol} {record.expiry:%Y%m%d} {record.strike:g}{record.right}"


def _et(instant: datetime) -> str:
    return instant.astimezone(EASTERN).isoformat(timespec="seconds")


def summary_dict(result: SimulationResult, trader_tz: str) -> dict[str, Any]:
    zone = ZoneInfo(trader_tz)
    positions = []
    for r in result.results:
        fill = result.fill_times.get(r.position.contract.key)
        positions.append({
            "contract": r.position.contract.key,
            "quantity": r.position.quantity,
            "outcome": r.outcome.value,
            "if_left_alone": r.counterfactual.value,
            "closed_at_et": _et(fill.at) if fill and r.outcome is Outcome.CLOSED else None,
            "fill_price": fill.execution_price if fill else None,
            "slippage": round(r.mean_slippage, 4) if r.mean_slippage is not None else None,
            "stage": fill.stage if fill else None,
        })
    actions = [{
        "at_et": _et(a.at), "kind": a.action.value, "contract": _contract(a), "quantity": a.quantity,
        "price": a.execution_price, "success": a.success, "stage": a.stage, "reason": a.reason or a.error or "",
    } for a in sorted((a for a in result.actions if a.action in TIMELINE_KINDS),
                      key=lambda a: (a.at, TIMELINE_KINDS.index(a.action), _contract(a)))]
    k = result.kpis
    return {
        "scenario": result.scenario.name,
        "date": result.session.day.isoformat(),
        "mode": result.mode.value,
        "close_et": _et(result.session.close),
        "close_local": result.session.close.astimezone(zone).isoformat(timespec="seconds"),
        "positions": positions,
        "actions": actions,
        "kpis": {
            "exercise_prevention_rate": k.exercise_prevention_rate,
            "false_positive_rate": k.false_positive_rate,
            "mean_slippage": k.mean_slippage,
            "exercised_contracts": k.exercised_contracts,
            "shares_delivered": k.shares_delivered,
        },
        "orders_sent": result.orders_sent,
        "restarts": result.restarts,
        "escalation": result.escalated or None,
        "run_id": result.run.run_id if result.run else None,
        "audit": audit_dict(result),
        "next_morning": morning_dict(result),
    }


def morning_dict(result: SimulationResult) -> dict[str, Any] | None:
    """What the next morning's check found and what the disposal did (``--through-next-open``)."""
    if result.morning is None:
        return None
    records = [a for a in result.actions if a.action in MORNING_KINDS and a.at >= result.morning.started]
    checks = [a for a in records if a.action is ActionKind.MORNING_CHECK]
    return {
        "date": result.morning.day.isoformat(),
        "check": checks[-1].reason if checks else "not run (the broker or the store never answered)",
        "delivered": {a.symbol: a.quantity for a in records if a.action is ActionKind.DELIVERY},
        "exposure": checks[-1].details.get("exposure") if checks else None,
        "margin": checks[-1].details.get("margin") if checks else None,
        "disposals": [{"at_et": _et(a.at), "symbol": a.symbol, "quantity": a.quantity, "price": a.execution_price,
                       "success": a.success, "reason": a.reason or a.error or ""}
                      for a in records if a.action is ActionKind.DISPOSAL],
    }


def audit_dict(result: SimulationResult) -> dict[str, Any] | None:
    """Where this run's audit trail is, and how many of its records are only in the spool."""
    if result.audit is None:
        return None
    return {"store": result.audit.store, "unsent_records": result.audit.unsent, "spool": result.audit.spool or None,
            "error": result.audit.error or None}


def write_json(result: SimulationResult, trader_tz: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary_dict(result, trader_tz), indent=2) + "\n")


def print_summary(result: SimulationResult, trader_tz: str, console: Console) -> None:
    data = summary_dict(result, trader_tz)
    console.print(f"\n[bold]{data['scenario']}[/bold]  {data['date']}  mode {data['mode']}  "
                  f"close {data['close_et'][11:16]} ET / {data['close_local'][11:16]} "
                  f"{ZoneInfo(trader_tz).key}")
    table = Table(title="Positions (SPY)", title_justify="left")
    for column in ("contract", "qty", "outcome", "if left alone", "closed at (ET)", "fill", "slippage", "stage"):
        table.add_column(column)
    for p in data["positions"]:
        style = {"exercised": "bold red", "assigned": "bold red", "closed": "green", "lapsed": "yellow"}.get(
            p["outcome"], "")
        table.add_row(p["contract"].replace("SPY ", ""), str(p["quantity"]), p["outcome"].upper(), p["if_left_alone"],
                      (p["closed_at_et"] or "")[11:19], _money(p["fill_price"]), _money(p["slippage"]),
                      p["stage"] or "", style=style)
    console.print(table)
    timeline = Table(title="Action timeline", title_justify="left")
    for column in ("ET", "action", "contract", "qty", "price", "ok", "detail"):
        timeline.add_column(column, overflow="fold")
    for a in data["actions"]:
        ok = "" if a["success"] is None else ("yes" if a["success"] else "NO")
        timeline.add_row(a["at_et"][11:19], a["kind"], a["contract"].replace("SPY ", ""),
                         "" if a["quantity"] is None else str(a["quantity"]), _money(a["price"]), ok,
                         a["reason"].split(":", 1)[-1].strip()[:40])
    console.print(timeline)
    audit = data["audit"]
    if audit:
        console.print(f"run {data['run_id']}: audit trail in {audit['store']}")
        if audit["unsent_records"]:
            console.print(f"[bold yellow]{audit['unsent_records']} audit record(s) are not in the store, only in "
                          f"the spool {audit['spool']}[/bold yellow] ({audit['error'] or 'no answer'}); this "
                          "summary includes them")
        elif audit["error"]:
            console.print(f"[bold yellow]the audit store could not be read back[/bold yellow] ({audit['error']}); "
                          "outcomes above count only what the spool still held")
    k = data["kpis"]
    console.print(f"[bold]KPIs[/bold]  exercise prevention {k['exercise_prevention_rate']:.0%}  "
                  f"false positives {k['false_positive_rate']:.0%}  "
                  f"mean slippage {_money(k['mean_slippage']) or 'n/a'}/share  "
                  f"contracts exercised/assigned {k['exercised_contracts']}  net shares delivered "
                  f"{k['shares_delivered']:+d}  orders sent {data['orders_sent']}")
    morning = data["next_morning"]
    if morning:
        console.print(f"[bold]Next morning {morning['date']}[/bold]  {morning['check']}")
        for disposal in morning["disposals"]:
            ok = "" if disposal["success"] is None else (" ok" if disposal["success"] else " FAILED")
            console.print(f"  disposal {disposal['at_et'][11:19]} ET {disposal['symbol']} {disposal['quantity']} "
                          f"{_money(disposal['price'])}{ok}: {disposal['reason']}")
    restarted = {role: n for role, n in data["restarts"].items() if n}
    if restarted:
        console.print(f"actor restarts: {restarted}")
    if data["escalation"]:
        console.print(f"[bold red]supervisor escalation:[/bold red] {data['escalation']}")


def _money(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"
