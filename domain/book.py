"""The book the policy sees: the broker's last snapshot corrected by what happened since.

Positions are polled (at most once a minute near the close), but our own orders and fills are
known at once. Between a fill and the next poll the snapshot still shows the old position: without
this correction a filled close would be sent again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from domain.model import OptionContract, Position, Side, WorkingOrder


@dataclass(frozen=True)
class OwnFill:
    order_id: str
    contract: OptionContract
    side: Side
    quantity: int  # contracts filled in this execution
    at: datetime


@dataclass(frozen=True)
class Book:
    positions: tuple[Position, ...] = ()
    broker_orders: tuple[WorkingOrder, ...] = ()
    taken_at: datetime | None = None
    own_orders: tuple[WorkingOrder, ...] = ()  # our live orders, as the Executor knows them now
    own_fills: tuple[OwnFill, ...] = field(default_factory=tuple)

    def with_snapshot(self, positions: Sequence[Position], orders: Sequence[WorkingOrder], taken_at: datetime) -> Book:
        """A new broker snapshot; fills older than it are already in its positions."""
        fills = tuple(fill for fill in self.own_fills if fill.at > taken_at)
        return replace(self, positions=tuple(positions), broker_orders=tuple(orders), taken_at=taken_at,
                       own_fills=fills)

    def with_own_orders(self, orders: Iterable[WorkingOrder]) -> Book:
        return replace(self, own_orders=tuple(orders))

    def with_fill(self, fill: OwnFill) -> Book:
        return replace(self, own_fills=(*self.own_fills, fill))

    def effective_positions(self) -> list[Position]:
        quantities = {position.contract: position.quantity for position in self.positions}
        for fill in self.own_fills:
            if fill.contract in quantities:
                quantities[fill.contract] += fill.side.signed(fill.quantity)
        return [replace(position, quantity=quantities[position.contract]) for position in self.positions
                if quantities[position.contract] != 0]

    def working_orders(self) -> list[WorkingOrder]:
        """Broker orders, with our own live orders' current state taking precedence by order id."""
        own = {order.order_id: order for order in self.own_orders}
        merged = [own.pop(order.order_id, order) for order in self.broker_orders]
        # an own order the broker reported as done since the snapshot is no longer working
        return [order for order in merged if order.remaining > 0] + list(own.values())


def snapshot_is_current(taken_at: datetime | None, connected_since: datetime | None) -> bool:
    """May a snapshot taken at ``taken_at`` be traded on, the broker connected since ``connected_since``?

    Only if it was read during the current connection: one read before (or with no connection)
    may miss what changed while away, e.g. a position closed by hand in TWS, and closing it again
    would open a new one.
    """
    return taken_at is not None and connected_since is not None and taken_at >= connected_since
