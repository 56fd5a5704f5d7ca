"""Scenario files: one simulated expiration afternoon (format documented in simulation/README.md).

A file is checked whole against the schema below (pydantic, strict JSON types) before any actor
starts, and any fault in it is one line: ``scenario FILE: FIELD what is wrong``. How to add a field,
a fault kind or an order type: simulation/README.md, "Extending the format".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from actors.context import Roles
from config.loader import check_overrides
from config.schema import ConfigError
from domain.mode import Mode
from domain.model import OptionContract, OrderType, Position, Right, Side, StockPosition, WorkingOrder
from domain.session import EASTERN, ExpirySession
from gateways.sim_market import SpotScript

BUILTIN = "default.json"
ACTORS = tuple(sorted(value for name, value in vars(Roles).items() if name.isupper()))


class ScenarioError(ValueError):
    """One line: which file, which field, what is wrong."""


@dataclass(frozen=True)
class Fault:
    """A fault as the runner applies it; a kind's own fields arrive here by name (see _FaultSpec)."""

    at: datetime
    kind: str
    actor: str = ""
    count: int = 0
    seconds: float = 0.0
    contract: str = ""  # a contract key, for faults about one contract


# --- the schema -----------------------------------------------------------------------------------

class _Spec(BaseModel):
    # strict: JSON types as written (2.5 is not a quantity, "3" not a number, 55 not a time);
    # NaN/Infinity (and 1e400, which JSON reads as infinity) are refused for every number.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


Positive = Annotated[float, Field(gt=0)]
Money = Annotated[float, Field(ge=0)]


def _path_point(value: Any) -> Any:
    if not isinstance(value, list) or len(value) != 2 or not isinstance(value[0], str):
        raise ValueError('must be ["HH:MM", price], e.g. ["15:45", 641.2]')
    return tuple(value)


# Past a BeforeValidator the entry is a Python tuple, where strict mode takes no text for a time.
_PathTime = Annotated[time, Field(strict=False)]


class SpotSpec(_Spec):
    start: Positive
    vol: Annotated[float, Field(gt=0, le=5)] = 0.12
    seed: int = 7
    path: list[Annotated[tuple[_PathTime, Positive], BeforeValidator(_path_point)]] = []
    after_hours: float = 0.0

    @field_validator("path")
    @classmethod
    def _increasing(cls, path: list[tuple[time, float]]) -> list[tuple[time, float]]:
        if any(later <= earlier for (earlier, _), (later, _) in zip(path, path[1:], strict=False)):
            raise ValueError("times must increase from one entry to the next")
        return path


class ContractSpec(_Spec):
    symbol: str = "SPY"
    right: Right
    strike: Positive
    expiry: date | None = None  # the scenario's day

    @field_validator("right", mode="before")
    @classmethod
    def _right(cls, value: Any) -> Any:
        try:
            return Right.parse(value) if isinstance(value, str) else value
        except ValueError:
            raise ValueError("must be C, P, CALL or PUT") from None

    def contract(self, day: date) -> OptionContract:
        return OptionContract(self.symbol.upper(), self.right, self.strike, self.expiry or day)


class PositionSpec(ContractSpec):
    quantity: int  # signed: negative is short
    avg_cost: Money = 0.0

    @field_validator("quantity")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be 0 (negative is short, positive long)")
        return value


class StockSpec(_Spec):
    """Shares the trader holds before the session (never attributed to an exercise or assignment)."""

    symbol: Annotated[str, BeforeValidator(lambda value: value.upper() if isinstance(value, str) else value)]
    shares: int  # signed: negative is short
    avg_cost: Money = 0.0

    @field_validator("shares")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be 0 (negative is short, positive long)")
        return value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


# Who placed a trader's order, and so whether the service may change it: "trader" as when it runs with client
# id 0 (it binds TWS orders), "tws" placed by hand in TWS while it runs with another client id, or another
# API program: IB refuses every change to those two.
PLACED_BY = {"trader": (0, True, "TWS, bound to client id 0"), "tws": (0, False, "TWS"),
             "another_program": (23, False, "API client 23")}


class OrderSpec(ContractSpec):
    action: Annotated[Literal["BUY", "SELL"], BeforeValidator(_upper)]
    placed_by: Literal["trader", "tws", "another_program"] = "trader"
    # Only what the paper broker simulates: a stop triggers on the mid, a limit rests.
    type: Annotated[Literal["STP", "LMT"], BeforeValidator(_upper)] = "STP"
    quantity: Annotated[int, Field(ge=1)]
    stop: Positive | None = None
    limit: Positive | None = None
    order_ref: str | None = None

    @model_validator(mode="after")
    def _price_for_its_type(self) -> OrderSpec:
        if self.type == "STP" and self.stop is None:
            raise ValueError("a STP order needs a stop price ('stop')")
        if self.type == "LMT" and self.limit is None:
            raise ValueError("a LMT order needs a limit price ('limit')")
        return self


class _FaultSpec(_Spec):
    """One fault kind: ``kind`` names it; its other fields (besides ``at``) are passed to Fault by name."""

    at: time

    def fault(self, day: date) -> Fault:
        return Fault(datetime.combine(day, self.at, tzinfo=EASTERN), **self.model_dump(exclude={"at"}))


class CrashActor(_FaultSpec):
    kind: Literal["crash_actor"]
    actor: str

    @field_validator("actor")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in ACTORS:
            raise ValueError(f"must be one of {', '.join(ACTORS)}")
        return value


class RejectOrders(_FaultSpec):
    kind: Literal["reject_orders"]
    count: Annotated[int, Field(ge=1)]


class FeedOutage(_FaultSpec):
    kind: Literal["feed_outage"]
    seconds: Positive


class BrokerDisconnect(_FaultSpec):
    kind: Literal["broker_disconnect"]
    seconds: Positive


class NoFills(_FaultSpec):
    kind: Literal["no_fills"]
    seconds: Positive


class RefuseContract(ContractSpec, _FaultSpec):
    """From ``at`` on, the broker refuses every order for one contract (one it will not trade)."""

    kind: Literal["refuse_contract"]

    def fault(self, day: date) -> Fault:
        return Fault(datetime.combine(day, self.at, tzinfo=EASTERN), self.kind, contract=self.contract(day).key)


FaultSpec = Annotated[CrashActor | RejectOrders | FeedOutage | BrokerDisconnect | NoFills | RefuseContract,
                      Field(discriminator="kind")]


class BrokerSpec(_Spec):
    """How the simulated broker differs from a polite one."""

    position_lag_seconds: Money = 0.0  # its position reads show a fill only this long after it
    refuse_combos: bool = False  # it takes no combo orders (ComboRefused): the legs must be closed one by one


class ScenarioFile(_Spec):
    name: str | None = None
    description: str = ""
    date: date
    start: time | None = None
    mode: Mode | None = None
    spot: SpotSpec
    positions: list[PositionSpec] = []
    stock: list[StockSpec] = []
    orders: list[OrderSpec] = []
    faults: list[FaultSpec] = []
    broker: BrokerSpec = BrokerSpec()
    config: dict[str, Any] = {}


# --- the scenario the runner uses ------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    name: str
    day: date
    start_time: time | None
    mode: str | None
    spot: SpotScript
    positions: tuple[Position, ...]
    orders: tuple[WorkingOrder, ...]
    faults: tuple[Fault, ...]
    stock: tuple[StockPosition, ...] = ()  # the trader's own shares before the session
    config: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    position_lag_seconds: float = 0.0  # the simulated broker's position reads lag fills this long
    refuse_combos: bool = False  # the simulated broker refuses every combo order

    def start(self, session: ExpirySession) -> datetime:
        if self.start_time is None:
            return session.close - timedelta(minutes=40)
        return datetime.combine(self.day, self.start_time, tzinfo=EASTERN)

    def spot_script(self) -> SpotScript:
        return self.spot

    def initial_positions(self) -> list[Position]:
        return list(self.positions)

    def initial_orders(self) -> list[WorkingOrder]:
        return list(self.orders)

    def fault_schedule(self) -> list[Fault]:
        return sorted(self.faults, key=lambda fault: fault.at)


def load_scenario(path: Path | None, day_override: date | None = None) -> Scenario:
    """Read and check a scenario file (the built-in one when ``path`` is None); ScenarioError if bad."""
    name = f"built-in {BUILTIN}" if path is None else str(path)
    spec = _parse(name, _read(path))
    day = day_override or spec.date
    try:
        check_overrides(spec.config)
    except ConfigError as error:
        raise ScenarioError(f"scenario {name}: config.{error.key}={error.value!r}: {error.allowed}") from None
    positions = tuple(Position(p.contract(day), p.quantity, p.avg_cost) for p in spec.positions)
    _refuse_duplicates(name, positions)
    return Scenario(
        name=spec.name or name, day=day, start_time=spec.start, mode=spec.mode.value if spec.mode else None,
        spot=SpotScript(spec.spot.start, spec.spot.vol, spec.spot.seed,
                        tuple((datetime.combine(day, at, tzinfo=EASTERN), price) for at, price in spec.spot.path),
                        spec.spot.after_hours),
        positions=positions,
        stock=tuple(StockPosition(s.symbol, s.shares, s.avg_cost) for s in spec.stock),
        orders=tuple(_order(i, o, day) for i, o in enumerate(spec.orders, start=1)),
        faults=tuple(f.fault(day) for f in spec.faults),
        config=spec.config, description=spec.description, position_lag_seconds=spec.broker.position_lag_seconds,
        refuse_combos=spec.broker.refuse_combos)


def _order(number: int, spec: OrderSpec, day: date) -> WorkingOrder:
    client_id, modifiable, owner = PLACED_BY[spec.placed_by]
    return WorkingOrder(f"T{number}", spec.contract(day), Side(spec.action), OrderType(spec.type), spec.quantity,
                        limit_price=spec.limit, stop_price=spec.stop, order_ref=spec.order_ref, client_id=client_id,
                        perm_id=900 + number, modifiable=modifiable, owner=owner)


def _read(path: Path | None) -> bytes:
    if path is None:
        return resources.files("simulation").joinpath("scenarios", BUILTIN).read_bytes()
    try:
        return path.read_bytes()
    except OSError as error:
        raise ScenarioError(f"scenario {path}: cannot read the file: {error.strerror}") from None


def _parse(name: str, data: bytes) -> ScenarioFile:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ScenarioError(f"scenario {name}: not UTF-8 text (at byte offset {error.start}: {error.reason}); "
                            "save the file as UTF-8") from None
    try:
        return ScenarioFile.model_validate_json(text)
    except ValidationError as error:
        raise ScenarioError(f"scenario {name}: {_explain(error.errors(include_url=False)[0])}") from None


def _explain(error: Mapping[str, Any]) -> str:
    """One pydantic error as 'FIELD what is wrong, got VALUE'."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "json_invalid":
        return f"not valid JSON: {ctx.get('error', error['msg'])}"
    if kind == "model_type" and not error["loc"]:
        return "must be one JSON object; see simulation/README.md"
    where = _where(error["loc"])
    if kind == "union_tag_invalid":
        return f"{where}.kind must be one of {ctx['expected_tags']}, got {ctx['tag']!r}"
    if kind == "union_tag_not_found":
        return f"{where}.kind is required"
    if kind == "missing":
        return f"{where} is required"
    if kind == "extra_forbidden":
        return f"{where} is not a field here; see simulation/README.md"
    what = _WORDING.get(kind) or str(error["msg"]).removeprefix("Value error, ").replace("Input should be", "must be")
    shown = error.get("input")
    got = f", got {shown!r}" if isinstance(shown, str | int | float) and len(repr(shown)) <= 40 else ""
    return f"{where} {what}{got}"


_WORDING = {
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "time_type": "must be an ET time like '15:55' or '15:55:30'",
    "time_parsing": "must be an ET time like '15:55' or '15:55:30'",
    "date_type": "must be a date like '2026-11-25'",
    "date_parsing": "must be a date like '2026-11-25'",
    "date_from_datetime_parsing": "must be a date like '2026-11-25'",
    "list_type": "must be a list [...]",
    "model_type": "must be an object {...}",
    "dict_type": "must be an object {...}",
    "string_type": "must be a string",
}


def _where(loc: tuple[Any, ...]) -> str:
    """('positions', 2, 'strike') -> positions[2].strike; a fault's kind tag in the path is dropped."""
    text = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        elif loc[0] == "faults" and i == 2:
            continue  # the discriminator's tag, e.g. ('faults', 0, 'crash_actor', 'actor')
        else:
            text += f".{part}" if text else str(part)
    return text


def _refuse_duplicates(name: str, positions: tuple[Position, ...]) -> None:
    seen: dict[OptionContract, int] = {}
    for i, position in enumerate(positions):
        if position.contract in seen:
            raise ScenarioError(f"scenario {name}: positions[{i}] repeats {position.contract.key} of "
                                f"positions[{seen[position.contract]}]; one entry per contract (quantities are net)")
        seen[position.contract] = i
