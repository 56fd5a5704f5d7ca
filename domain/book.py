"""The book every close is sized from: what is certainly still open, whatever the broker's reads say.

IB's position reads lag fills by seconds (12 s has been seen). A read taken after one of our fills may
still show the position as it was before, and sizing a close from it sends the same close again: a
long 2 became short 2. So a fill is *unseen* until a read shows it, and while it is unseen the book
takes the smaller of the two positions it could be: the read as it stands, or the read with the fill
still to come. A read shows a fill when it moved from the previous read by exactly the fills since
(a prefix of them, oldest first; the shortest when fills both ways fit more than one); a fill older
than ``lag_seconds`` at the time of a read is taken as shown whatever the read says (the trader may
have traded the same contract meanwhile, and no read would ever match). The smaller of the two never
crosses zero: our closes cannot flip a position. With several unseen fills only those that reduce the
position count (one that adds to it may be in the read already, and netting it against a reducing one
would take the read as certain).

Our own fills come as executions (one per IB execId, counted once however often they are reported).
Fills of other orders (the trader's, or ours from an earlier client id) are only known from the order
list: when an order's filled quantity grows between two reads, or a closing order vanishes from the
list without a confirmed cancel, the difference may have filled and is unseen the same way. An order
the Executor followed (ours, or a trader's stop it converted) is never such an order, also after the
Executor let it go: its fills came as executions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.model import OptionContract, Position, Side, WorkingOrder

DEFAULT_LAG_SECONDS = 60.0


@dataclass(frozen=True)
class OwnFill:
    """One execution that changed a position: ``fill_id`` is IB's execId (or a name for an inferred fill)."""

    fill_id: str
    contract: OptionContract
    side: Side
    quantity: int  # contracts in this execution
    at: datetime  # when it happened at the broker

    @property
    def signed(self) -> int:
        return self.side.signed(self.quantity)


@dataclass(frozen=True)
class Book:
    positions: tuple[Position, ...] = ()  # the last read, as the broker reported it
    broker_orders: tuple[WorkingOrder, ...] = ()  # the working orders of the last read
    taken_at: datetime | None = None
    own_orders: tuple[WorkingOrder, ...] = ()  # our live orders, as the Executor knows them now
    unseen: tuple[OwnFill, ...] = ()  # fills the reads may not show yet, oldest first
    applied: frozenset[str] = frozenset()  # every fill id ever taken in, so a repeat is not counted twice
    ended: frozenset[str] = frozenset()  # identities of other orders whose end the broker confirmed
    # every order ever followed as ours (orderRef, or identity for a trader's stop we converted): its fills
    # come as executions, so its leaving the list after it ended is no fill of another order
    followed: frozenset[str] = frozenset()

    # --- what happened --------------------------------------------------------------------------
    def with_fill(self, fill: OwnFill) -> Book:
        if fill.fill_id in self.applied:
            return self
        unseen = tuple(sorted((*self.unseen, fill), key=lambda f: f.at))
        return replace(self, unseen=unseen, applied=self.applied | {fill.fill_id})

    def with_own_orders(self, orders: Iterable[WorkingOrder]) -> Book:
        own = tuple(orders)
        return replace(self, own_orders=own, followed=self.followed | {_follow_key(o) for o in own})

    def with_order_ended(self, order: WorkingOrder, filled: int, at: datetime) -> Book:
        """Another party's order the broker confirmed done (we cancelled it) with ``filled`` in all."""
        book = replace(self, ended=self.ended | {order.identity})
        seen = next((o.filled for o in self.broker_orders if o.identity == order.identity), order.filled)
        if filled > seen:
            book = book.with_fill(_inferred(order, filled - seen, at, f"{order.identity} filled {filled}"))
        return book

    def with_snapshot(self, positions: Sequence[Position], orders: Sequence[WorkingOrder], taken_at: datetime,
                      lag_seconds: float = DEFAULT_LAG_SECONDS) -> Book:
        """A new read of positions and working orders (the orders read first, as reconcile does)."""
        book = self
        for fill in self._fills_of_other_orders(orders, taken_at):
            book = book.with_fill(fill)
        unseen = book._still_unseen(positions, taken_at, timedelta(seconds=lag_seconds))
        return replace(book, positions=tuple(positions), broker_orders=tuple(orders), taken_at=taken_at,
                       unseen=unseen)

    # --- what is open -----------------------------------------------------------------------------
    def effective_positions(self) -> list[Position]:
        """Every position read, at the size certainly still open (zero ones left out).

        Only the unseen fills that reduce the position count: one that adds to it may be in the read already,
        and netting the two (a trader's stop and his buy limit both filled) would take the read as certain.
        """
        reducing: dict[OptionContract, int] = {}
        held = {position.contract: position.quantity for position in self.positions}
        for fill in self.unseen:
            if (fill.signed > 0) != (held.get(fill.contract, 0) > 0):
                reducing[fill.contract] = reducing.get(fill.contract, 0) + fill.signed
        result = []
        for position in self.positions:
            quantity = certain_quantity(position.quantity, reducing.get(position.contract, 0))
            if quantity:
                result.append(replace(position, quantity=quantity))
        return result

    def working_orders(self) -> list[WorkingOrder]:
        """The broker's working orders, our own as the Executor knows them now (matched by orderRef)."""
        # a combo's legs share its orderRef: each leg is matched by its contract too
        own: dict[tuple[str | None, OptionContract], WorkingOrder] = {
            (order.order_ref, order.contract): order for order in self.own_orders if order.order_ref}
        merged = [own.pop((order.order_ref, order.contract), order) if (order.order_ref, order.contract) in own
                  else order for order in self.broker_orders]
        # an order of ours the Executor saw end since the read is no longer working
        return [order for order in merged if order.remaining > 0] + [o for o in own.values() if o.remaining > 0]

    # --- internals ----------------------------------------------------------------------------------
    def _follows_by_execution(self, order: WorkingOrder) -> bool:
        """Orders whose fills reach us as executions: those the Executor follows or followed."""
        return _follow_key(order) in self.followed

    def _fills_of_other_orders(self, orders: Sequence[WorkingOrder], taken_at: datetime) -> list[OwnFill]:
        if self.taken_at is None:
            return []  # a first read has nothing to compare with: what it shows is all we know
        before = {o.identity: o for o in self.broker_orders if not self._follows_by_execution(o)}
        fills = []
        now = {o.identity: o for o in orders if not self._follows_by_execution(o)}
        for identity, order in now.items():
            seen = before[identity].filled if identity in before else 0
            if order.filled > seen:
                fills.append(_inferred(order, order.filled - seen, taken_at, f"{identity} filled {order.filled}"))
        for identity, order in before.items():
            if identity not in now and identity not in self.ended and order.remaining > 0:
                # Gone from the list: filled or cancelled, the list does not say which. Until a read
                # shows the position, the rest may have filled.
                fills.append(_inferred(order, order.remaining, taken_at, f"{identity} gone at {order.quantity}"))
        return fills

    def _still_unseen(self, positions: Sequence[Position], taken_at: datetime, lag: timedelta) -> tuple[OwnFill, ...]:
        """The unseen fills a new read does not show yet (see the module's docstring)."""
        now = {p.contract: p.quantity for p in positions}
        before = {p.contract: p.quantity for p in self.positions}
        by_contract: dict[OptionContract, list[OwnFill]] = {}
        for fill in self.unseen:
            if fill.at > taken_at - lag:
                by_contract.setdefault(fill.contract, []).append(fill)
        kept: list[OwnFill] = []
        for contract, fills in by_contract.items():
            shown = _fills_shown(before.get(contract, 0), now.get(contract, 0), fills) \
                if self.taken_at is not None else 0
            kept += fills[shown:]
        return tuple(sorted(kept, key=lambda f: f.at))


def certain_quantity(read: int, pending: int) -> int:
    """Of ``read`` and ``read + pending``, the one nearer zero; zero when they lie on either side of it."""
    after = read + pending
    if read == 0 or (after > 0) != (read > 0) or after == 0:
        return 0
    return after if abs(after) < abs(read) else read


def over_close(side: Side, quantity: int, sized_against: int, last_read: int, working: int) -> str:
    """Why an order would open or flip a position ("" when it would not): the brokers' last guard.

    ``sized_against`` is the position the close was sized from, ``last_read`` the broker's own last read
    of it, ``working`` what our orders on that side may still fill. The order may take no more than the
    smaller of the two positions, less what already works, on the side that reduces it."""
    bound = certain_quantity(last_read, sized_against - last_read) if (last_read > 0) == (sized_against > 0) else 0
    if bound == 0:
        return f"no position to close (sized against {sized_against:+d}, last read {last_read:+d})"
    if side is not (Side.SELL if bound > 0 else Side.BUY):
        return f"{side.value} would add to a position of {bound:+d}"
    if quantity + working > abs(bound):
        return f"{side.value} {quantity} with {working} of ours still working exceeds the position of {bound:+d} " \
               f"(sized against {sized_against:+d}, last read {last_read:+d})"
    return ""


def _fills_shown(before: int, now: int, fills: Sequence[OwnFill]) -> int:
    """How many of ``fills`` (oldest first) a read that moved from ``before`` to ``now`` shows.

    With fills both ways the read may fit more than one count (a trader's buy found gone from the list,
    already in the read before, then our sells): the fewest, which leaves the position no larger than it
    can be.
    """
    total = 0
    if before == now:
        return 0
    for count, fill in enumerate(fills, start=1):
        total += fill.signed
        if before + total == now:
            return count
    return 0


def _follow_key(order: WorkingOrder) -> str:
    return order.order_ref or order.identity


def _inferred(order: WorkingOrder, quantity: int, at: datetime, name: str) -> OwnFill:
    return OwnFill(f"inferred: {name}", order.contract, order.side, quantity, at)


def snapshot_is_current(taken_at: datetime | None, connected_since: datetime | None) -> bool:
    """May a snapshot taken at ``taken_at`` be traded on, the broker connected since ``connected_since``?

    Only if it was read during the current connection: one read before (or with no connection)
    may miss what changed while away, e.g. a position closed by hand in TWS, and closing it again
    would open a new one.
    """
    return taken_at is not None and connected_since is not None and taken_at >= connected_since
