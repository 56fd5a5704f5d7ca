"""The orders IBBroker placed or adopted, and the OrderEvents it reports about them.

Kept apart from the connection because it outlives it: across a drop every unsettled order is
reported UNKNOWN (never REJECTED), and after the reconnect an order IB no longer lists is settled
from the executions (filled while away) or as cancelled. Runs on the broker's loop thread only.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from ib_async import CommissionReport, Fill, Trade
from ib_async.util import UNSET_DOUBLE

from domain.model import OptionContract, Side
from gateways.broker import OrderEvent, OrderStatus
from gateways.ib import codes, mapping
from runtime.clock import Clock

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
    last_status: OrderStatus = OrderStatus.SUBMITTED
    commission: dict[str, float] = field(default_factory=dict)  # exec id -> commission


class OrderTracker:
    def __init__(self, client_id: int, clock: Clock) -> None:
        self._client_id = client_id
        self._clock = clock
        self._orders: dict[int, TrackedOrder] = {}
        self.handler: Callable[[OrderEvent], None] = lambda event: None

    def placed(self, order_id: int, contract: OptionContract, side: Side, quantity: int,
               order_ref: str | None) -> None:
        self._orders[order_id] = TrackedOrder(order_id, contract, side, quantity, order_ref)

    def track(self, trade: Trade) -> TrackedOrder:
        """The tracked order for a live Trade, tracking it from now on if it was not (adoption)."""
        order_id = trade.order.orderId
        tracked = self._orders.get(order_id)
        if tracked is None:
            tracked = TrackedOrder(order_id, mapping.from_ib_option(trade.contract), Side(trade.order.action),
                                   int(trade.order.totalQuantity), trade.order.orderRef or None)
            self._orders[order_id] = tracked
        tracked.quantity = int(trade.order.totalQuantity)
        return tracked

    def report(self, trade: Trade) -> None:
        """An OrderEvent for the Trade's current state (an adopted order announces itself this way)."""
        self._emit_trade(self.track(trade), trade)

    # --- ib_async events -------------------------------------------------------------------------

    def on_order_status(self, trade: Trade) -> None:
        tracked = self._tracked(trade)
        if tracked is not None:
            self._emit_trade(tracked, trade)

    def on_commission(self, trade: Trade, fill: Fill, report: CommissionReport) -> None:
        """IB reports an execution's commission after its fill's order status: one more event, with the
        order's cumulative commission, so the receiver can audit it even when no new fill came with it."""
        tracked = self._tracked(trade)
        if tracked is None or not _is_amount(report.commission):
            return
        tracked.commission[report.execId] = report.commission
        self._emit_trade(tracked, trade)

    def _tracked(self, trade: Trade) -> TrackedOrder | None:
        """Ours only: order ids are per client, so another client's order may carry one of our ids."""
        if trade.order.clientId != self._client_id:
            return None
        return self._orders.get(trade.order.orderId)

    # --- connection life -------------------------------------------------------------------------

    def connection_lost(self) -> None:
        for tracked in self._orders.values():
            if not tracked.last_status.is_final:
                self._emit(tracked, OrderStatus.UNKNOWN, None, None, None,
                           "connection to IB Gateway lost; outcome settled after reconnect")

    def settle_vanished(self, open_ids: Collection[int], fills: Sequence[Fill]) -> None:
        """After a reconnect: an unsettled order IB no longer lists filled (by ``fills``) or was cancelled."""
        for tracked in self._orders.values():
            if tracked.order_id in open_ids or tracked.last_status.is_final:
                continue
            own = [f for f in fills
                   if f.execution.orderId == tracked.order_id and f.execution.clientId == self._client_id]
            filled = sum(int(f.execution.shares) for f in own)
            tracked.commission.update({f.execution.execId: f.commissionReport.commission for f in own})
            average = sum(f.execution.shares * f.execution.price for f in own) / filled if filled else None
            status = OrderStatus.FILLED if filled >= tracked.quantity else OrderStatus.CANCELLED
            message = "filled while disconnected" if status is OrderStatus.FILLED else \
                "no longer working at IB after reconnect"
            self._emit(tracked, status, filled, tracked.quantity - filled, average, message)

    # --- events ----------------------------------------------------------------------------------

    def _emit_trade(self, tracked: TrackedOrder, trade: Trade) -> None:
        status_ = trade.orderStatus
        errors = {entry.errorCode for entry in trade.log if entry.errorCode}
        status = codes.order_status(status_.status, status_.filled, status_.remaining, errors,
                                    tracked.cancel_requested)
        messages = [entry.message for entry in trade.log if entry.message]
        average = status_.avgFillPrice if status_.filled else None
        self._emit(tracked, status, int(status_.filled), int(status_.remaining), average,
                   messages[-1] if messages and status is OrderStatus.REJECTED else "")

    def _emit(self, tracked: TrackedOrder, status: OrderStatus, filled: int | None, remaining: int | None,
              average: float | None, message: str) -> None:
        tracked.last_status = status
        event = OrderEvent(
            order_id=str(tracked.order_id), order_ref=tracked.order_ref, contract=tracked.contract,
            side=tracked.side, status=status, filled=filled or 0,
            remaining=remaining if remaining is not None else tracked.quantity, avg_fill_price=average,
            at=self._clock.now(),
            commission=round(sum(tracked.commission.values()), 4) if tracked.commission else None,
            message=message)
        try:
            self.handler(event)
        except Exception:  # a receiver's bug must not kill ib_async's event dispatch
            log.exception("order event handler failed for %s", event)


def _is_amount(value: float) -> bool:
    """IB sends max-double (ib_async's UNSET_DOUBLE) for a commission it has not computed."""
    return not math.isnan(value) and value != UNSET_DOUBLE
