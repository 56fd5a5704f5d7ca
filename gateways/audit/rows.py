"""ActionRecord / AssessmentRecord <-> table rows, shared by both dialects.

Values are made safe for the columns here (text made storable by domain.audit.storable_text, strings
cut to their VARCHAR length, numbers clamped to their NUMERIC range, NaN/inf dropped), so the database
has no reason to refuse a record. What was changed is kept in details: the original value of a clamped
column in details["clamped"], the names of fields whose text was made storable in details["sanitised"].
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from domain.audit import ActionKind, ActionRecord, AssessmentRecord, storable_text
from domain.session import EASTERN

# Column -> record attribute, in insert order (the seed's columns first).
ACTION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("action_timestamp", "at"), ("position_symbol", "symbol"), ("strike", "strike"), ("expiry", "expiry"),
    ("moneyness", "moneyness"), ("action_taken", "action"), ("execution_price", "execution_price"),
    ("success", "success"), ("action_id", "action_id"), ("trade_date", "trade_date"), ("account", "account"),
    ("option_right", "right"), ("quantity", "quantity"), ("mode", "mode"), ("stage", "stage"),
    ("reason", "reason"), ("risk_score", "risk_score"), ("probability_itm", "probability_itm"),
    ("order_ref", "order_ref"), ("ib_order_id", "order_id"), ("reference_mid", "reference_mid"),
    ("slippage", "slippage"), ("pnl_impact", "pnl_impact"), ("error", "error"), ("details", "details"),
    ("run_id", "run_id"),
)
ASSESSMENT_COLUMNS: tuple[str, ...] = (
    "assessed_at", "trade_date", "contract_key", "quantity", "spot", "moneyness", "risk_score",
    "probability_itm", "level", "stage", "action", "mode", "run_id",
)
# VARCHAR lengths and NUMERIC bounds of the PostgreSQL schema (sql/postgresql/*.sql).
TEXT_LIMITS = {"symbol": 50, "right": 1, "contract_key": 50}
DETAILS_INDEX = [column for column, _ in ACTION_COLUMNS].index("details")
NUMBER_LIMITS = {
    "strike": 1e8 - 0.01, "moneyness": 1e6 - 1e-6, "execution_price": 1e8 - 1e-4, "reference_mid": 1e8 - 1e-4,
    "slippage": 1e8 - 1e-4, "pnl_impact": 1e12 - 0.01, "spot": 1e8 - 1e-4, "quantity": 2**31 - 1,
    "risk_score": 1e300, "probability_itm": 1e300,
}


class Encoders:
    """How one dialect wants a timestamp, a date and a boolean as a query parameter."""

    def __init__(self, timestamp: Callable[[datetime], Any], day: Callable[[date], Any],
                 boolean: Callable[[bool], Any]) -> None:
        self.timestamp, self.day, self.boolean = timestamp, day, boolean


def aware(instant: datetime) -> datetime:
    """Records should carry aware times; a naive one is taken as UTC rather than refused."""
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def trade_date(instant: datetime) -> date:
    """The session an action belongs to: its date in New York."""
    return aware(instant).astimezone(EASTERN).date()


def _clamp(name: str, value: Any, clamped: dict[str, Any], sanitised: list[str]) -> Any:
    if value is None:
        return None
    if isinstance(value, str) and (storable := storable_text(value)) != value:
        sanitised.append(name)
        value = storable
    if name in TEXT_LIMITS and isinstance(value, str) and len(value) > TEXT_LIMITS[name]:
        clamped[name] = value
        return value[: TEXT_LIMITS[name]]
    if name in NUMBER_LIMITS and isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            clamped[name] = str(value)
            return None
        bound = NUMBER_LIMITS[name]
        if abs(value) > bound:
            clamped[name] = value
            return type(value)(math.copysign(bound, value)) if isinstance(value, float) else int(
                math.copysign(bound, value))
    return value


def action_params(record: ActionRecord, enc: Encoders) -> list[Any]:
    clamped: dict[str, Any] = {}
    sanitised: list[str] = []
    values: list[Any] = []
    details: dict[str, Any] = {}
    for column, attribute in ACTION_COLUMNS:
        if attribute == "trade_date":
            values.append(enc.day(trade_date(record.at)))
            continue
        if column == "details":
            details = dict(record.details or {})
            values.append(None)  # filled in below, once every other column has said what it changed
            continue
        value = _clamp(attribute, getattr(record, attribute), clamped, sanitised)
        if column == "action_timestamp":
            value = enc.timestamp(aware(value))
        elif column == "expiry" and value is not None:
            value = enc.day(value)
        elif column == "success" and value is not None:
            value = enc.boolean(bool(value))
        elif column == "action_taken":
            value = str(value.value if isinstance(value, ActionKind) else value)[:20]
        values.append(value)
    if clamped:
        details["clamped"] = clamped
    changed_text: list[str] = []
    safe_details = _json_safe(details, changed_text)
    if changed_text:
        sanitised.append("details")
    if sanitised:
        safe_details["sanitised"] = sanitised
    values[DETAILS_INDEX] = json.dumps(safe_details, sort_keys=True)
    return values


def _json_safe(data: Any, changed_text: list[str]) -> Any:
    """JSON PostgreSQL's jsonb accepts: no NaN/Infinity, only storable text (each change noted)."""
    if isinstance(data, float) and not math.isfinite(data):
        return str(data)
    if data is None or isinstance(data, bool | int | float):
        return data
    if isinstance(data, dict):
        return {_json_safe(str(key), changed_text): _json_safe(value, changed_text) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_json_safe(value, changed_text) for value in data]
    text = data if isinstance(data, str) else str(data)  # what json.dumps(default=str) stored before
    storable = storable_text(text)
    if storable != text:
        changed_text.append(text)
    return storable


def assessment_params(record: AssessmentRecord, enc: Encoders) -> list[Any]:
    clamped: dict[str, Any] = {}
    values: list[Any] = [enc.timestamp(aware(record.at)), enc.day(trade_date(record.at))]
    for name in ASSESSMENT_COLUMNS[2:]:
        values.append(_clamp(name, getattr(record, name), clamped, []))  # no details column to say so
    return values


def _datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, Decimal | int | float) and not isinstance(value, bool) else value


def action_from_row(row: dict[str, Any]) -> ActionRecord:
    """A row of SELECT <ACTION_COLUMNS> back into a record (drivers return different Python types)."""
    details = row["details"]
    success = row["success"]
    return ActionRecord(
        action_id=row["action_id"], at=_datetime(row["action_timestamp"]), action=ActionKind(row["action_taken"]),
        symbol=row["position_symbol"] or "", strike=_float(row["strike"]), expiry=_date(row["expiry"]),
        right=row["option_right"], quantity=row["quantity"], account=row["account"], mode=row["mode"],
        stage=row["stage"], reason=row["reason"], moneyness=_float(row["moneyness"]),
        risk_score=_float(row["risk_score"]), probability_itm=_float(row["probability_itm"]),
        order_ref=row["order_ref"], order_id=row["ib_order_id"], execution_price=_float(row["execution_price"]),
        reference_mid=_float(row["reference_mid"]), slippage=_float(row["slippage"]),
        pnl_impact=_float(row["pnl_impact"]), success=None if success is None else bool(success),
        error=row["error"], details=details if isinstance(details, dict) else json.loads(details or "{}"),
        run_id=row["run_id"],
    )
