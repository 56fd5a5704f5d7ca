"""The broker interface the Executor and PositionPoller use: the paper broker and IB implement it.

Order outcomes arrive as ``OrderEvent``s through the handler set with ``set_event_handler``, on
the broker's own thread; receivers must hand them to their actor (``tell``), not act in place.
An outcome the broker cannot confirm (timeout, disconnect) is ``UNKNOWN``: unresolved, never
treated as rejected, and settled by reconciliation after the next (re)connect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from domain.model import OptionContract, OrderType, Position, Side, WorkingOrder


class OrderStatus(StrEnum):
    SUBMITTED = "submitted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED)


@dataclass(frozen=True)
class OrderRequest:
    contract: OptionContract
    side: Side
    quantity: int
    order_type: OrderType  # LIMIT or MARKET for closing orders
    limit_price: float | None
    order_ref: str


@dataclass(frozen=True)
class OrderEvent:
    order_id: str
    order_ref: str | None
    contract: OptionContract
    side: Side
    status: OrderStatus
    filled: int  # cumulative
    remaining: int
    avg_fill_price: float | None
    at: datetime
    commission: float | None = None
    message: str = ""


class BrokerError(Exception):
    """The broker refused or could not be reached; the message is one line an operator can act on."""


class BrokerUnavailable(BrokerError):
    """Not connected: nothing was sent. Not a failure of the order (no attempt used, no breaker count)."""


class OrderNotOurs(BrokerError):
    """The broker will not let this client change the order (placed in TWS or by another API client).
    Final for that order: retrying cannot succeed, so it is no failure for the circuit breaker."""


class OrderOutcomeUnknown(BrokerError):
    """The request may or may not have reached the broker (timeout, drop mid-send): unresolved, never a
    reject. The next positions/orders snapshot taken after it settles it (adopt by orderRef, or gone)."""


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

    def positions(self) -> Sequence[Position]: ...

    def working_orders(self) -> Sequence[WorkingOrder]: ...

    def place_order(self, request: OrderRequest) -> str:
        """Send the order and return its id; the outcome arrives as events."""
        ...

    def modify_limit(self, order_id: str, limit_price: float) -> None: ...

    def modify_to_market(self, order: WorkingOrder) -> None:
        """Turn a working (stop) order into a market order, keeping its order id."""
        ...

    def cancel(self, order_id: str) -> None: ...

    def set_event_handler(self, handler: Callable[[OrderEvent], None]) -> None: ...

    def messages_sent(self) -> int: ...
