"""The broker interface the Executor and PositionPoller use: the paper broker and IB implement it.

What happens to orders arrives through the handler set with ``set_event_handler``, on the broker's
own thread (receivers must hand it to their actor with ``tell``, not act in place), as two kinds of
event: an ``Execution`` (domain.model) per execution (the only truth of what filled, counted once per
``exec_id``), and an ``OrderEvent`` per change of an order's state. An outcome the broker cannot
confirm (timeout, disconnect, a change IB refused while the order may still work) is ``UNKNOWN``:
unresolved, never treated as rejected or ended, and settled by IB's own list of open orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.model import Execution, OptionContract, OrderType, Side


class OrderStatus(StrEnum):
    SUBMITTED = "submitted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    NOT_SENT = "not_sent"  # queued, then never sent (the link dropped first): nothing reached the broker
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.NOT_SENT)


@dataclass(frozen=True)
class OrderRequest:
    contract: OptionContract
    side: Side
    quantity: int
    order_type: OrderType  # LIMIT or MARKET for closing orders
    limit_price: float | None
    order_ref: str
    # The signed position this close was sized against: the broker's last guard refuses any order that,
    # with the closes of ours already working, would take more than it (or more than its own last read).
    position: int = 0


@dataclass(frozen=True)
class OrderEvent:
    order_id: str
    order_ref: str | None
    contract: OptionContract
    side: Side
    status: OrderStatus
    filled: int  # cumulative, as the broker's status says (the contracts and prices are in executions)
    remaining: int
    at: datetime
    commission: float | None = None
    message: str = ""
    # A change we asked for (new price, to market, cancel) that IB refused; the order itself may well
    # still be working (ib_async marks it Cancelled locally all the same), so the status says UNKNOWN
    # until IB's open-order list settles it.
    refusal: str = ""


@dataclass(frozen=True)
class ComboLegRequest:
    contract: OptionContract
    side: Side  # this leg's closing side
    ratio: int  # contracts of this leg per unit of the combo
    position: int  # the signed position this leg was sized against (the last guard checks each leg)


@dataclass(frozen=True)
class ComboRequest:
    """One order closing several legs at once (IB: a ``BAG`` contract with a ``ComboLeg`` per leg), filled as a
    whole or not at all, in units: ``quantity`` units close ``ratio * quantity`` contracts of each leg.

    ``limit_price`` is the net per share of one unit: what the legs bought cost less what the legs sold
    bring, so negative when closing brings in money (a credit)."""

    legs: tuple[ComboLegRequest, ...]
    quantity: int
    order_type: OrderType  # LIMIT or MARKET
    limit_price: float | None
    order_ref: str


BrokerEvent = OrderEvent | Execution


@dataclass(frozen=True)
class StockOrderRequest:
    """An order in shares (the morning's disposal of what an exercise or assignment delivered): LIMIT or MARKET, a day
    order in regular hours. ``held`` is the signed stock position it was sized against: the broker's last guard
    refuses one that would take more than that (or than its own read), so it can never open or flip a position."""

    symbol: str
    side: Side
    shares: int
    order_type: OrderType
    limit_price: float | None
    order_ref: str
    held: int


@dataclass(frozen=True)
class StockOrderState:
    """One of our stock orders as the broker knows it now; stock orders are read, not pushed as events (the
    Executor's event stream is about options only)."""

    order_id: str
    order_ref: str
    symbol: str
    side: Side
    shares: int
    filled: int
    average_price: float | None
    status: OrderStatus
    limit_price: float | None = None  # None: a market order
    message: str = ""


class LapseStatus(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"  # the broker said no (after the cut-off, a short, more than held): message says why
    UNCONFIRMED = "unconfirmed"  # sent, no refusal came back in time; IB never confirms a lapse positively


@dataclass(frozen=True)
class LapseResult:
    status: LapseStatus
    message: str = ""


class BrokerError(Exception):
    """The broker refused or could not be reached; the message is one line an operator can act on."""


class BrokerUnavailable(BrokerError):
    """Not connected: nothing was sent. Not a failure of the order (no attempt used, no breaker count)."""


class OrderNotOurs(BrokerError):
    """The broker will not let this client change the order (placed in TWS or by another API client).
    Final for that order: retrying cannot succeed, so it is no failure for the circuit breaker."""


class OrderRefused(BrokerError):
    """The broker's last guard refused to send it: it could have opened or flipped a position. Nothing was
    sent. It should never fire (the Executor sizes every close the same way); when it does, page."""


class ComboRefused(BrokerError):
    """The broker will not take this combo (no combo routing for it, a leg it cannot combine): nothing was sent,
    and closing the legs one by one, short legs first, is what is left. No failure for the circuit breaker."""


class OrderOutcomeUnknown(BrokerError):
    """The request may or may not have reached the broker (timeout, drop mid-send): unresolved, never a
    reject. The next positions/orders snapshot taken after it settles it (adopt by orderRef, or gone)."""
