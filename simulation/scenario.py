"""Scenario files: one simulated expiration afternoon (format documented in simulation/README.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from domain.model import OptionContract, OrderType, Position, Right, Side, WorkingOrder
from domain.session import EASTERN, ExpirySession
from gateways.sim_market import SpotScript

FAULT_KINDS = ("crash_actor", "reject_orders", "feed_outage", "broker_disconnect", "no_fills")
BUILTIN = "default.json"


class ScenarioError(ValueError):
    """One line: which file, which field, what is wrong."""


@dataclass(frozen=True)
class Fault:
    at: datetime
    kind: str
    actor: str = ""
    count: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Scenario:
    name: str
    day: date
    start_time: time | None
    mode: str | None
    spot: dict[str, Any]
    positions: tuple[dict[str, Any], ...]
    orders: tuple[dict[str, Any], ...]
    faults: tuple[dict[str, Any], ...]
    config: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def start(self, session: ExpirySession) -> datetime:
        if self.start_time is None:
            return session.close - timedelta(minutes=40)
        return datetime.combine(self.day, self.start_time, tzinfo=EASTERN)

    def spot_script(self) -> SpotScript:
        path = tuple((self._at(text, f"spot.path[{i}]"), _number(price, f"spot.path[{i}]", self.name))
                     for i, (text, price) in enumerate(self.spot.get("path", [])))
        return SpotScript(
            start=_number(self.spot.get("start"), "spot.start", self.name),
            vol=_number(self.spot.get("vol", 0.12), "spot.vol", self.name),
            seed=int(self.spot.get("seed", 7)),
            path=path,
            after_hours=_number(self.spot.get("after_hours", 0.0), "spot.after_hours", self.name),
        )

    def initial_positions(self) -> list[Position]:
        return [Position(self._contract(p, f"positions[{i}]"), int(p["quantity"]), float(p.get("avg_cost", 0.0)))
                for i, p in enumerate(self.positions)]

    def initial_orders(self) -> list[WorkingOrder]:
        orders = []
        for i, o in enumerate(self.orders):
            where = f"orders[{i}]"
            kind = OrderType(str(o.get("type", "STP")).upper())
            side = Side(str(o.get("action", "")).upper()) if str(o.get("action", "")).upper() in ("BUY", "SELL") \
                else _fail(self.name, f"{where}.action", "must be BUY or SELL")
            orders.append(WorkingOrder(
                f"T{i + 1}", self._contract(o, where), side, kind, int(o["quantity"]),
                limit_price=_optional(o.get("limit")), stop_price=_optional(o.get("stop")),
                order_ref=o.get("order_ref")))
        return orders

    def fault_schedule(self) -> list[Fault]:
        faults = []
        for i, f in enumerate(self.faults):
            kind = f.get("kind")
            if kind not in FAULT_KINDS:
                _fail(self.name, f"faults[{i}].kind", f"must be one of {', '.join(FAULT_KINDS)}")
            faults.append(Fault(self._at(f.get("at", ""), f"faults[{i}].at"), str(kind), str(f.get("actor", "")),
                                int(f.get("count", 0)), float(f.get("seconds", 0))))
        return sorted(faults, key=lambda fault: fault.at)

    def _contract(self, data: Mapping[str, Any], where: str) -> OptionContract:
        try:
            expiry = date.fromisoformat(str(data.get("expiry", self.day.isoformat())))
            return OptionContract(str(data.get("symbol", "SPY")).upper(), Right.parse(str(data["right"])),
                                  float(data["strike"]), expiry)
        except KeyError as missing:
            _fail(self.name, f"{where}.{missing.args[0]}", "is required")
        except ValueError as error:
            _fail(self.name, where, str(error))
        raise AssertionError("unreachable")

    def _at(self, text: str, where: str) -> datetime:
        try:
            return datetime.combine(self.day, time.fromisoformat(str(text)), tzinfo=EASTERN)
        except ValueError:
            _fail(self.name, where, f"must be an ET time like '15:55' or '15:55:30', got {text!r}")
        raise AssertionError("unreachable")


def _fail(name: str, where: str, what: str) -> Any:
    raise ScenarioError(f"scenario {name}: {where} {what}")


def _number(value: Any, where: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(name, where, f"must be a number, got {value!r}")
    return float(value)


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


def load_scenario(path: Path | None, day_override: date | None = None) -> Scenario:
    """Read and check a scenario file (the built-in one when ``path`` is None)."""
    if path is None:
        name = f"built-in {BUILTIN}"
        text = resources.files("simulation").joinpath("scenarios", BUILTIN).read_text()
    else:
        name = str(path)
        try:
            text = path.read_text()
        except OSError as error:
            raise ScenarioError(f"scenario {name}: cannot read the file: {error.strerror}") from error
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ScenarioError(f"scenario {name}: not valid JSON: {error}") from error
    if not isinstance(raw, dict):
        raise ScenarioError(f"scenario {name}: must be one JSON object")
    unknown = set(raw) - {"name", "description", "date", "start", "mode", "spot", "positions", "orders", "faults",
                          "config"}
    if unknown:
        _fail(name, ", ".join(sorted(unknown)), "unknown field(s); see simulation/README.md")
    try:
        day = day_override or date.fromisoformat(str(raw.get("date")))
    except ValueError:
        _fail(name, "date", f"must be YYYY-MM-DD, got {raw.get('date')!r}")
    start_text = raw.get("start")
    try:
        start_time = time.fromisoformat(start_text) if start_text else None
    except ValueError:
        _fail(name, "start", f"must be an ET time like '15:20', got {start_text!r}")
    if "spot" not in raw or not isinstance(raw["spot"], dict):
        _fail(name, "spot", "is required: {\"start\": 640.0, ...}")
    positions = tuple(raw.get("positions", []))
    # positions without an expiry expire on the scenario's day, whatever --date says
    positions = tuple({**p, "expiry": p.get("expiry", day.isoformat())} for p in positions)
    orders = tuple({**o, "expiry": o.get("expiry", day.isoformat())} for o in raw.get("orders", []))
    scenario = Scenario(raw.get("name", name), day, start_time, raw.get("mode"), raw["spot"], positions, orders,
                        tuple(raw.get("faults", [])), raw.get("config", {}), raw.get("description", ""))
    scenario.spot_script()  # validate everything now, before any actor starts
    scenario.initial_positions()
    scenario.initial_orders()
    scenario.fault_schedule()
    return scenario
