"""The ports: what the actors and the runtime need from the outside world, in one place.

Each is a small interface; the adapters implement it: IB (gateways.ib) and the paper broker are a
``Broker``; ThetaData, IB and the simulated market a ``PriceSource``; the alert sender
(gateways.alerts) an ``AlertSender``; the durable audit log (gateways.audit) an ``AuditTrail``. The
value types they exchange live beside them (gateways.broker: requests, events, errors) or in the domain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from domain.alerts import Alert
from domain.audit import ActionRecord, AssessmentRecord
from domain.evening import EveningRecord
from domain.model import Execution, OptionContract, Position, Quote, StockPosition, WorkingOrder
from gateways.broker import (
    BrokerEvent,
    ComboRequest,
    LapseResult,
    OrderRequest,
    StockOrderRequest,
    StockOrderState,
)


class Connectivity(StrEnum):
    """The broker link's state, as any broker reports it (IB's codes map onto it: gateways.ib.codes)."""

    CONNECTED = "connected"
    LOST = "lost"  # socket up, but IB Gateway lost IB's servers (1100): no orders go out
    DISCONNECTED = "disconnected"  # socket to IB Gateway down: reconnecting
    CLOSED = "closed"  # disconnect() was called: no reconnect


class Broker(Protocol):
    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def is_connected(self) -> bool: ...

    def connected_since(self) -> datetime | None:
        """When the current connection was made (and reconciled); None while not connected.

        A positions snapshot taken before this instant may miss what changed while disconnected
        (a position closed by hand in TWS), so it must not be traded on."""
        ...

    def account(self) -> str: ...

    def write_access(self) -> bool | None:
        """False: the broker refuses every order (IB's Read-Only API); None: not known yet."""
        ...

    def positions(self) -> Sequence[Position]: ...

    def stock_positions(self) -> Sequence[StockPosition]:
        """The shares the account holds (IB: the STK positions of the same positions stream), for the morning
        check of what an exercise or assignment delivered. Never traded on by the expiration-day policy."""
        ...

    def working_orders(self) -> Sequence[WorkingOrder]: ...

    def executions(self) -> Sequence[Execution]:
        """Today's executions of our orders, to rebuild what filled while the process or the link was away."""
        ...

    def place_order(self, request: OrderRequest) -> str:
        """Queue the order and return its id at once; the outcome arrives as events."""
        ...

    def place_combo(self, request: ComboRequest) -> str:
        """Queue a combo order and return its id at once. Its ``OrderEvent``s count units and name its first leg;
        its ``Execution``s are one per leg execution, in contracts, each with the leg's contract (never the
        combo's own). A broker that takes no combos raises ``ComboRefused`` (nothing sent)."""
        ...

    def place_stock_order(self, request: StockOrderRequest) -> str:
        """Queue an order in shares and return its id at once; its progress is read with ``stock_orders``. Raises
        OrderRefused (nothing sent) when it could take more shares than held."""
        ...

    def modify_stock_order(self, order_id: str, limit_price: float | None) -> None:
        """A working stock order's new limit, or to market with None."""
        ...

    def stock_orders(self) -> Sequence[StockOrderState]:
        """Today's stock orders placed by this service (by its order refs), working or ended: how a restarted
        process finds the disposal it already sent."""
        ...

    def modify_limit(self, order_id: str, limit_price: float) -> None:
        """Queue a new limit price (a combo's: the net per unit); a refusal arrives as an event."""
        ...

    def modify_to_market(self, order: WorkingOrder) -> None:
        """Turn a working (stop) order into a market order, keeping its order id."""
        ...

    def cancel(self, order_id: str) -> None: ...

    def lapse(self, contract: OptionContract, quantity: int) -> LapseResult:
        """Tell the broker not to exercise ``quantity`` long contracts at expiration (contrary intention).
        Blocks for at most a few seconds; raises BrokerUnavailable when not connected (nothing sent)."""
        ...

    def set_event_handler(self, handler: Callable[[BrokerEvent], None]) -> None: ...

    def messages_sent(self) -> int: ...


class PriceSource(Protocol):
    @property
    def name(self) -> str: ...

    def underlying_quote(self, symbol: str) -> Quote:
        """The latest quote of the underlying; raises FeedError."""
        ...

    def option_quotes(self, contracts: Sequence[OptionContract]) -> Mapping[str, Quote]:
        """Latest quotes keyed by contract key (with implied volatility when known); raises FeedError."""
        ...


class AlertSender(Protocol):
    def send(self, alert: Alert) -> object: ...  # the result, if any (delivered or not), is unused

    def close(self, timeout: float = 5.0) -> None:
        """Let queued alerts go out (up to ``timeout``), then stop."""
        ...


class AuditTrail(Protocol):
    """The AuditLogger's durable log: records appended at once (spooled), delivered to the store behind it."""

    def append(self, record: ActionRecord | AssessmentRecord | EveningRecord) -> None: ...

    def deliver_soon(self) -> None: ...

    def backlog(self) -> int: ...

    def oldest_unsent(self) -> datetime | None: ...

    @property
    def spool_directory(self) -> Path: ...

    @property
    def last_error(self) -> str: ...
