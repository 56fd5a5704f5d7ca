"""The action queue: what the service will do and when, derived (pure) from its status dict.

The service reports facts (positions with the stage at which the policy would close each at the
current price, ``closes_at``, the stage instants, the working orders); the queue lays them out the
way the seed's layout shows it: ``[15:55:00] Close SPY 635P - PENDING``. It is a forecast for a
person, not a decision: the service decides again on every tick.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tui.format import parse_instant

# States, in the words the seed uses plus the ones a live afternoon needs.
SCHEDULED = "SCHEDULED"  # a stage event that will happen at its time
PENDING = "PENDING"  # a close the policy will send at that time if moneyness stays where it is
DUE = "DUE"  # its time has come; the service is acting on it now
WORKING = "WORKING"  # a closing order is at the broker
DONE = "DONE"
MONITOR = "MONITOR ONLY"  # monitor mode: alert, never trade
HALTED = "HALTED"  # kill switch or circuit breaker: nothing will be sent


@dataclass(frozen=True)
class QueueItem:
    at: datetime
    text: str
    state: str


def action_queue(status: Mapping[str, Any]) -> list[QueueItem]:
    now = parse_instant(status.get("now"))
    parsed = {key: parse_instant(value) for key, value in (status.get("stage_times") or {}).items()}
    times = {key: instant for key, instant in parsed.items() if instant is not None}
    if now is None or not all(key in times for key in ("T-30", "T-5", "T-2", "CLOSED")):
        return []
    mode = str(status.get("mode", ""))
    halted = bool(status.get("kill_switch") or status.get("breaker_tripped") or status.get("trading_halted"))
    warn_band = (status.get("thresholds") or {}).get("t30_moneyness")
    orders = list(status.get("working_orders") or [])
    working = {o.get("contract") for o in orders if o.get("cleanup")}
    warn = f"warn moneyness > {-float(warn_band):+.1%}" if isinstance(warn_band, int | float) else "warn near the money"
    items = [QueueItem(times["T-30"], f"Assess, {warn}", DONE if now >= times["T-30"] else SCHEDULED)]
    for position in status.get("positions_at_risk") or []:
        key = str(position.get("contract", "?"))
        closes_at = position.get("closes_at")  # the policy's own forecast at the current price
        if not closes_at:
            continue  # out of reach of every closing stage at the current price
        at = times.get(str(closes_at), now)  # a stage without an instant (emergency: any stage) is now
        if now >= times["CLOSED"]:
            continue
        if key in working:
            state = WORKING
        elif mode == "monitor":
            state = MONITOR
        elif halted:
            state = HALTED
        else:
            state = DUE if now >= at else PENDING
        items.append(QueueItem(max(at, now) if state in (WORKING, DUE) else at, f"Close {short_contract(key)}", state))
    stops = [o for o in orders if str(o.get("type", "")).startswith("STP") and not o.get("cleanup")]
    if stops or now < times["T-2"]:
        label = f"Convert stops to market ({len(stops)})"
        state = SCHEDULED if now < times["T-2"] else (HALTED if halted else DUE)
        items.append(QueueItem(times["T-2"], label, MONITOR if mode == "monitor" and stops else state))
    items.append(QueueItem(times["CLOSED"], "Market close", DONE if now >= times["CLOSED"] else SCHEDULED))
    return sorted(items, key=lambda item: item.at)


def short_contract(key: str) -> str:
    """'SPY 20261125 635P' -> 'SPY 635P' (the expiry is today's for every position shown)."""
    parts = key.split()
    return f"{parts[0]} {parts[2]}" if len(parts) == 3 else key
