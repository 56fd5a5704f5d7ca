"""The orders IBBroker placed or took over, and the events it reports about them.

Kept apart from the connection because it outlives it. Two truths, never ib_async's inferences:
- what filled comes from executions (one ``Execution`` per IB execId, live or from reqExecutions);
- when an order ended comes from IB itself: its orderStatus, or its absence from IB's open-order
  list. ib_async marks a Trade Cancelled on its own when IB refuses a *change* to it (a new price:
  201, 104, 161, ...), although the order keeps working at its old price; such an inference is
  reported UNKNOWN with the refusal, and the broker asks IB's open orders (``verify``) to settle it.
A new order IB refuses before acknowledging it is REJECTED (a combo's: "combo refused: ...", for the caller to
close its legs one by one instead).

A combo (IB's BAG) is one tracked order in units, named by its first leg; IB reports an execution per leg and
one for the BAG itself: only the legs' are reported (the BAG's would count the fill twice).

Across a drop every unsettled order is UNKNOWN; after the reconnect one IB no longer lists is settled from the
executions. Loop thread only.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ib_async import CommissionReport, Fill, Trade
from ib_async.util import UNSET_DOUBLE

from domain.clock import Clock
from domain.model import Execution, OptionContract, Side
from domain.order_refs import is_cleanup_ref
from gateways.broker import BrokerError, BrokerEvent, OrderEvent, OrderStatus
from gateways.ib import codes, mapping
from gateways.ib.mapping import Leg

log = logging.getLogger(__name__)


@dataclass
class TrackedOrder:
    """What the broker remembers about one order, across reconnects."""

    order_id: int
    contract: OptionContract
    side: Side
    quantity: int
    order_ref: str | None
    cancel_requested: bool = False
    acknowledged: bool = False  # IB itself reported it working: a later refusal is of a change, not of it
    last_status: OrderStatus = OrderStatus.SUBMITTED
    executed: dict[str, int] = field(default_factory=dict)  # exec id -> contracts
    commission: dict[str, float] = field(default_factory=dict)  # exec id -> commission
    legs: tuple[Leg, ...] = ()  # a combo's legs (``quantity`` is then in units); empty for a single order
    executed_on: dict[str, str] = field(default_factory=dict)  # a combo's exec id -> the leg's contract key

    @property
    def unexecuted(self) -> int:
        """Contracts that may still fill (or have filled without their execution reported yet)."""
        return max(self.quantity - sum(self.executed.values()), 0)

    def leg_unexecuted(self, leg: Leg) -> int:
        """Contracts of one combo leg that may still fill."""
        done = sum(n for exec_id, n in self.executed.items() if self.executed_on.get(exec_id) == leg.contract.key)
        return max(leg.ratio * self.quantity - done, 0)

    def leg_of(self, contract: OptionContract) -> Leg | None:
        return next((leg for leg in self.legs if leg.contract.key == contract.key), None)

    def units_filled(self, fills: Sequence[Fill]) -> int:
        """Units of this order ``fills`` (its own) show filled: a combo's from its first leg's executions."""
        if not self.legs:
            return sum(int(f.execution.shares) for f in fills)
        first = self.legs[0]
        shares = sum(int(f.execution.shares) for f in fills if mapping.is_option(f.contract)
                     and mapping.from_ib_option(f.contract).key == first.contract.key)
        return shares // first.ratio


class OrderTracker:
    def __init__(self, client_id: int, clock: Clock) -> None:
        self._client_id = client_id
        self._clock = clock
        self._orders: dict[int, TrackedOrder] = {}
        self.handler: Callable[[BrokerEvent], None] = lambda event: None
        self.verify: Callable[[int], None] = lambda order_id: None  # ask IB's open orders about this one
        self.read_only: Callable[[str], None] = lambda message: None  # IB said its API is read-only

    def placed(self, order_id: int, contract: OptionContract, side: Side, quantity: int,
               order_ref: str | None) -> None:
        self._orders[order_id] = TrackedOrder(order_id, contract, side, quantity, order_ref)

    def placed_combo(self, order_id: int, legs: tuple[Leg, ...], units: int, order_ref: str | None) -> None:
        first = legs[0]
        self._orders[order_id] = TrackedOrder(order_id, first.contract, first.action, units, order_ref, legs=legs)

    def track(self, trade: Trade, legs: tuple[Leg, ...] = ()) -> TrackedOrder:
        """The tracked order for a live Trade, tracking it from now on if it was not (adoption; a combo's with its
        ``legs`` resolved, in the combo's own actions)."""
        order_id = trade.order.orderId
        tracked = self._orders.get(order_id)
        if tracked is None:
            acknowledged = trade.orderStatus.status in codes.WORKING_STATES
            if mapping.is_combo(trade.contract):
                if not legs:
                    raise BrokerError(f"combo order {order_id} is not tracked and its legs are not known")
                tracked = TrackedOrder(order_id, legs[0].contract, legs[0].action, int(trade.order.totalQuantity),
                                       trade.order.orderRef or None, acknowledged=acknowledged, legs=legs)
            else:
                tracked = TrackedOrder(order_id, mapping.from_ib_option(trade.contract), Side(trade.order.action),
                                       int(trade.order.totalQuantity), trade.order.orderRef or None,
                                       acknowledged=acknowledged)
            self._orders[order_id] = tracked
        tracked.quantity = int(trade.order.totalQuantity)
        return tracked

    def knows(self, order_id: int) -> bool:
        return order_id in self._orders

    def mark_cancel_requested(self, order_id: int) -> None:
        self._orders[order_id].cancel_requested = True

    def report(self, trade: Trade, legs: tuple[Leg, ...] = ()) -> None:
        """An OrderEvent for the Trade's current state (an adopted order announces itself this way)."""
        self._emit_trade(self.track(trade, legs), trade)

    def working(self, contract: OptionContract, side: Side) -> int:
        """Contracts our tracked orders on this contract and side may still fill: the broker's own view for
        its last guard, counting every order not known to have ended (an UNKNOWN one included), a combo's
        legs each on its own contract."""
        total = 0
        for t in self._orders.values():
            if t.last_status.is_final:
                continue
            if t.legs:
                total += sum(t.leg_unexecuted(leg) for leg in t.legs
                             if leg.contract.key == contract.key and leg.action is side)
            elif t.contract == contract and t.side is side:
                total += t.unexecuted
        return total

    def not_sent(self, order_id: int, reason: str) -> None:
        tracked = self._orders.get(order_id)
        if tracked is not None:
            self._emit(tracked, OrderStatus.NOT_SENT, 0, 0, reason)

    def refused_before_sending(self, order_id: int, reason: str) -> None:
        """Refused by this gateway before it reached IB (a contract IB does not know): a reject, nothing sent."""
        tracked = self._orders.get(order_id)
        if tracked is not None:
            self._emit(tracked, OrderStatus.REJECTED, 0, tracked.quantity, reason)

    def confirmed_working(self, trade: Trade) -> None:
        """IB's own open-order list shows it working, whatever ib_async inferred before."""
        tracked = self.track(trade)
        tracked.acknowledged = True
        filled = int(trade.orderStatus.filled)
        status = OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.SUBMITTED
        self._emit(tracked, status, filled, tracked.quantity - filled, "working at IB (its open orders)")

    def change_not_sent(self, order_id: int, reason: str) -> None:
        """A change that could not be sent because ib_async holds the order as ended: IB settles whether it is."""
        tracked = self._orders.get(order_id)
        if tracked is not None:
            self._emit(tracked, OrderStatus.UNKNOWN, None, None, "", refusal=reason)
            self.verify(order_id)

    # --- ib_async events -------------------------------------------------------------------------

    def on_order_status(self, trade: Trade) -> None:
        tracked = self._tracked(trade)
        if tracked is not None:
            self._emit_trade(tracked, trade)

    def on_execution(self, trade: Trade, fill: Fill) -> None:
        """A live execution of one of ours: reported at once, on our clock (its IB time may be another day's
        clock in a test, and the book compares it with the times of our own reads)."""
        tracked = self._tracked(trade)
        if tracked is not None and not mapping.is_combo(fill.contract):  # a BAG's own: its legs carry the fill
            self._execution(tracked, fill, self._clock.now())

    def on_commission(self, trade: Trade, fill: Fill, report: CommissionReport) -> None:
        """IB reports an execution's commission after its fill: one more event, with the order's cumulative
        commission, so the receiver can audit it even when no new fill came with it."""
        tracked = self._tracked(trade)
        if tracked is None or not _is_amount(report.commission) or mapping.is_combo(fill.contract):
            return
        tracked.commission[report.execId] = report.commission
        self._emit_trade(tracked, trade)

    def _tracked(self, trade: Trade) -> TrackedOrder | None:
        """Ours only: order ids are per client, so another client's order may carry one of our ids."""
        if trade.order.clientId != self._client_id:
            return None
        return self._orders.get(trade.order.orderId)

    # --- reads and connection life -----------------------------------------------------------------

    def executions(self, fills: Sequence[Fill]) -> list[Execution]:
        """Our executions among today's ``fills`` (from reqExecutions), as the Executor takes them in; the
        tracked orders learn of them too, so a later live report of one is not a second fill."""
        found = []
        for fill in fills:
            execution = fill.execution
            if execution.clientId != self._client_id or mapping.is_combo(fill.contract):
                continue  # another client's, or a BAG's own execution (its legs' carry the fill)
            tracked = self._orders.get(execution.orderId)
            if tracked is None and not is_cleanup_ref(execution.orderRef):
                continue
            at = min(fill.time, self._clock.now()) if fill.time else self._clock.now()
            if tracked is not None:
                tracked.executed[execution.execId] = int(execution.shares)
                if tracked.legs:
                    tracked.executed_on[execution.execId] = mapping.from_ib_option(fill.contract).key
            found.append(_to_execution(fill, at, tracked))
        return found

    def connection_lost(self) -> None:
        for tracked in self._orders.values():
            if not tracked.last_status.is_final:
                self._emit(tracked, OrderStatus.UNKNOWN, None, None,
                           "connection to IB Gateway lost; outcome settled after reconnect")

    def settle_vanished(self, open_ids: Collection[int], fills: Sequence[Fill],
                        only: Collection[int] | None = None) -> None:
        """An unsettled order IB no longer lists filled (by ``fills``) or was cancelled."""
        for tracked in self._orders.values():
            if tracked.order_id in open_ids or tracked.last_status.is_final:
                continue
            if only is not None and tracked.order_id not in only:
                continue
            own = [f for f in fills
                   if f.execution.orderId == tracked.order_id and f.execution.clientId == self._client_id]
            filled = tracked.units_filled(own)
            tracked.commission.update({f.execution.execId: f.commissionReport.commission for f in own
                                       if _is_amount(f.commissionReport.commission)})
            status = OrderStatus.FILLED if filled >= tracked.quantity else OrderStatus.CANCELLED
            message = "filled while IB's status was not seen" if status is OrderStatus.FILLED else \
                "no longer working at IB"
            self._emit(tracked, status, filled, tracked.quantity - filled, message)

    # --- events ----------------------------------------------------------------------------------

    def _execution(self, tracked: TrackedOrder, fill: Fill, at: datetime) -> None:
        if fill.execution.execId in tracked.executed:
            return
        tracked.executed[fill.execution.execId] = int(fill.execution.shares)
        if tracked.legs:
            tracked.executed_on[fill.execution.execId] = mapping.from_ib_option(fill.contract).key
        self._deliver(_to_execution(fill, at, tracked))

    def _emit_trade(self, tracked: TrackedOrder, trade: Trade) -> None:
        status_ = trade.orderStatus
        inferred = _inferred_by_ib_async(trade)
        if inferred is not None and not (tracked.cancel_requested and inferred[0] in codes.CANCEL_CONFIRMED_CODES):
            code, text = inferred
            read_only = codes.is_read_only(code, text)
            if read_only:
                self.read_only(text)
            if not tracked.acknowledged and (status_.status == "Cancelled" or read_only):
                # A combo IB refused at placement (no combo routing for it, a leg it will not combine, IB's texts
                # vary): the caller closes its legs one by one. Read-only refuses the singles too: not a combo's.
                prefix = "combo refused: " if tracked.legs and not read_only else ""
                self._emit(tracked, OrderStatus.REJECTED, 0, tracked.quantity, f"{prefix}IB {code}: {text}")
                return
            # A change refused, or a warning; the order itself may well be working still (ib_async marks it
            # Cancelled, or ValidationError, on its own). IB's open-order list settles it.
            refusal = f"IB {code}: {text}" if tracked.acknowledged else ""
            self._emit(tracked, OrderStatus.UNKNOWN, int(status_.filled), None, "", refusal=refusal)
            self.verify(tracked.order_id)
            return
        status = codes.order_status(status_.status, status_.filled, status_.remaining)
        if tracked.last_status.is_final and status is not tracked.last_status:
            return  # ended once (IB's Cancelled after its reject, say): an end is reported once
        if status in (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED):
            tracked.acknowledged = True
        self._emit(tracked, status, int(status_.filled), int(status_.remaining), "")

    def _emit(self, tracked: TrackedOrder, status: OrderStatus, filled: int | None, remaining: int | None,
              message: str, refusal: str = "") -> None:
        tracked.last_status = status
        self._deliver(OrderEvent(
            order_id=str(tracked.order_id), order_ref=tracked.order_ref, contract=tracked.contract,
            side=tracked.side, status=status, filled=filled or 0,
            remaining=remaining if remaining is not None else tracked.quantity, at=self._clock.now(),
            commission=round(sum(tracked.commission.values()), 4) if tracked.commission else None,
            message=message, refusal=refusal))

    def _deliver(self, event: BrokerEvent) -> None:
        try:
            self.handler(event)
        except Exception:  # a receiver's bug must not kill ib_async's event dispatch
            log.exception("order event handler failed for %s", event)


def _inferred_by_ib_async(trade: Trade) -> tuple[int, str] | None:
    """(code, text) when the Trade's current status is ib_async's own inference from an IB error message
    (its wrapper.error sets Cancelled, or ValidationError for the codes it calls warnings) rather than a
    status IB sent; None when IB itself said it."""
    if not trade.log or not trade.log[-1].errorCode:
        return None
    entry = trade.log[-1]
    if trade.orderStatus.status not in ("Cancelled", "ValidationError"):
        return None
    return entry.errorCode, entry.message


def _to_execution(fill: Fill, at: datetime, tracked: TrackedOrder | None) -> Execution:
    execution = fill.execution
    commission = fill.commissionReport.commission if _is_amount(fill.commissionReport.commission) \
        and fill.commissionReport.execId == execution.execId else None
    own_side = Side.BUY if execution.side == "BOT" else Side.SELL
    if tracked is not None and tracked.legs:  # a combo leg's execution: the leg's contract and side
        leg = tracked.leg_of(mapping.from_ib_option(fill.contract))
        contract = leg.contract if leg is not None else mapping.from_ib_option(fill.contract)
        side = own_side
    else:
        contract = tracked.contract if tracked is not None else mapping.from_ib_option(fill.contract)
        side = tracked.side if tracked is not None else own_side
    return Execution(execution.execId, str(execution.orderId), execution.orderRef or None, contract, side,
                     int(execution.shares), float(execution.price), at, commission)


def _is_amount(value: float) -> bool:
    """IB sends max-double (ib_async's UNSET_DOUBLE) for a commission it has not computed."""
    return not math.isnan(value) and value != UNSET_DOUBLE
