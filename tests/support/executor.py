"""One actor alone (the Executor, PositionPoller, RiskAssessor): its peers are recorders, its broker a
scripted stand-in.

Fast and exact: each message is handled (``ask``) before the test looks at what the actor sent.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pykka

from actors.context import ActorContext, LiveConfig, Roles
from config import load_settings
from domain.audit import ActionRecord
from domain.messages import Decisions, PositionsSnapshot
from domain.mode import Mode
from domain.model import Execution, Position, StockPosition, WorkingOrder
from domain.policy import Decision
from domain.session import EASTERN
from gateways.broker import BrokerUnavailable, ComboRequest, OrderEvent, OrderRequest
from gateways.metrics import Metrics
from runtime.clock import VirtualClock
from supervisor import Registry, StateKeeper, TradingGate
from tests.support.domain_builders import SESSION

T5 = datetime(2026, 11, 25, 15, 55, 0, tzinfo=EASTERN)
PEERS = (Roles.PRICE_FEED, Roles.POSITION_POLLER, Roles.RISK_ASSESSOR, Roles.CIRCUIT_BREAKER, Roles.AUDIT_LOGGER,
         Roles.NOTIFIER, Roles.EXECUTOR)


class Recorder(pykka.ThreadingActor):
    def __init__(self, seen: list[Any]) -> None:
        super().__init__()
        self.seen = seen

    def on_receive(self, message: Any) -> Any:
        if message is not None:  # None is the harness's sync
            self.seen.append(message)


class ScriptedBroker:
    """Connected or not as the test says; each call takes the next scripted error, if any, else succeeds."""

    def __init__(self, clock: VirtualClock, positions: Sequence[Position] = ()) -> None:
        self.clock = clock
        self.connected = True
        self.since: datetime = clock.now()
        self.errors: list[Exception] = []
        self.calls: list[tuple[str, Any]] = []  # every call that reached the broker
        self.held = list(positions)
        self.orders: list[WorkingOrder] = []
        self.fills: list[Execution] = []
        self._ids = itertools.count(1)

    def drop(self) -> None:
        self.connected = False

    def reconnect(self, after_seconds: float = 0) -> None:
        self.clock.advance(after_seconds)
        self.connected, self.since = True, self.clock.now()

    def is_connected(self) -> bool:
        return self.connected

    def connected_since(self) -> datetime | None:
        return self.since if self.connected else None

    def _call(self, name: str, argument: Any) -> None:
        if not self.connected:
            raise BrokerUnavailable("scripted broker disconnected: nothing sent")
        if self.errors:
            raise self.errors.pop(0)
        self.calls.append((name, argument))

    def place_order(self, request: OrderRequest) -> str:
        self._call("place", request)
        return str(next(self._ids))

    def place_combo(self, request: ComboRequest) -> str:
        self._call("place_combo", request)
        return str(next(self._ids))

    def modify_limit(self, order_id: str, limit_price: float) -> None:
        self._call("modify_limit", (order_id, limit_price))

    def modify_to_market(self, order: WorkingOrder) -> None:
        self._call("modify_to_market", order.order_id)

    def cancel(self, order_id: str) -> None:
        self._call("cancel", order_id)

    def positions(self) -> Sequence[Position]:
        self._call("positions", None)
        return self.held

    def stock_positions(self) -> Sequence[StockPosition]:
        self._call("stock_positions", None)
        return ()

    def place_stock_order(self, request):
        self._call("place_stock_order", request)
        return str(next(self._ids))

    def modify_stock_order(self, order_id, limit_price):
        self._call("modify_stock_order", (order_id, limit_price))

    def stock_orders(self):
        self._call("stock_orders", None)
        return ()

    def working_orders(self) -> Sequence[WorkingOrder]:
        self._call("working_orders", None)
        return self.orders

    def executions(self) -> Sequence[Execution]:
        self._call("executions", None)
        return self.fills

    def write_access(self) -> bool | None:
        return True

    def messages_sent(self) -> int:
        return len(self.calls)


class Harness:
    """One actor under test, the others recorded by role."""

    def __init__(self, actor_class: type, tmp_path, start: datetime = T5, positions: Sequence[Position] = ()) -> None:
        self.clock = VirtualClock(start)
        self.broker = ScriptedBroker(self.clock, positions)
        settings = load_settings(flags={"data_dir": str(tmp_path), "mode": "active"}, environ={}).settings
        self.registry = Registry()
        self.seen: dict[str, list[Any]] = {role: [] for role in PEERS}
        self.refs = {role: Recorder.start(self.seen[role]) for role in PEERS if role != actor_class.role}
        for role, ref in self.refs.items():
            self.registry.register(role, ref)
        self.metrics = Metrics(process_collectors=False)
        self.ctx = ActorContext(self.registry, StateKeeper(), TradingGate(), self.clock, LiveConfig(settings),
                                SESSION, self.metrics, lambda role, error, inbox: None, account="DU1")
        self.actor_class = actor_class
        self.role = actor_class.role
        self.actor = self._start()

    def _start(self) -> pykka.ActorRef:
        takes_broker = "broker" in inspect.signature(self.actor_class.__init__).parameters
        actor = self.actor_class.start(self.ctx, *([self.broker] if takes_broker else []))
        self.registry.register(self.role, actor)
        return actor

    def restart(self) -> None:
        """A new actor from the state the old one kept, as the supervisor restarts a crashed child."""
        self.actor.stop()
        self.actor = self._start()

    def ask(self, message: Any) -> Any:
        answer = self.actor.ask(message)
        for ref in self.refs.values():
            ref.ask(None)
        return answer

    def send(self, message: Any) -> None:
        self.ask(message)  # and a recorder has handled everything sent before this

    def state(self) -> Any:
        return self.ctx.keeper.get(self.role)

    def audited(self) -> list[ActionRecord]:
        return [m for m in self.seen[Roles.AUDIT_LOGGER] if isinstance(m, ActionRecord)]

    def told(self, role: str, kind: type) -> list[Any]:
        return [m for m in self.seen[role] if isinstance(m, kind)]

    def metric(self, name: str) -> float:
        return self.metrics.registry.get_sample_value(f"cleanup_{name}_total") or 0.0

    def advance(self, seconds: float) -> datetime:
        self.clock.advance(seconds)
        return self.clock.now()

    def stop(self) -> None:
        for ref in (self.actor, *self.refs.values()):
            ref.stop()


def event(order_id: str, request: OrderRequest, status, filled: int, at: datetime,
          commission: float | None = None, refusal: str = "") -> OrderEvent:
    return OrderEvent(order_id, request.order_ref, request.contract, request.side, status, filled,
                      request.quantity - filled, at, commission=commission, refusal=refusal)


_exec_ids = itertools.count(1)


def execution(order_id: str, request: OrderRequest, quantity: int, price: float, at: datetime,
              commission: float | None = None, exec_id: str | None = None) -> Execution:
    return Execution(exec_id or f"e{next(_exec_ids)}", order_id, request.order_ref, request.contract, request.side,
                     quantity, price, at, commission)


def later(at: datetime, seconds: float) -> datetime:
    return at + timedelta(seconds=seconds)


# --- what an Executor test sends and reads -----------------------------------------------------------
def snapshot(desk: Harness, positions: Sequence[Position], orders: Sequence[WorkingOrder] = (),
             executions: Sequence[Execution] | None = ()) -> None:
    """A read of orders, executions (by default read, and none) and positions, as the poller makes it."""
    desk.send(PositionsSnapshot(tuple(positions), tuple(orders), desk.clock.now(),
                                None if executions is None else tuple(executions)))


def decide(desk: Harness, *decisions: Decision) -> None:
    desk.send(Decisions(tuple(decisions), desk.clock.now(), Mode.ACTIVE))


def placed(desk: Harness) -> list[OrderRequest]:
    return [argument for name, argument in desk.broker.calls if name == "place"]


def combos_placed(desk: Harness) -> list[ComboRequest]:
    return [argument for name, argument in desk.broker.calls if name == "place_combo"]
