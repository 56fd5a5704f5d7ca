"""Placing, changing and cancelling orders at IB without ever making the caller wait on IB.

Each call checks at once what it can (connected, ours to change, the last guard) and queues the send
on the IB loop (outbox.py); IB's answers reach the OrderTracker as events. When ib_async holds one of
our orders as ended on its own inference (IB refused a change to it), the desk asks IB's own open-order
list whether it still works (``verify``), and the tracker reports what IB says.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from ib_async import IB, ExecutionFilter, Order, Trade
from ib_async.util import UNSET_DOUBLE

from domain.book import over_close
from domain.model import OptionContract
from gateways.broker import BrokerError, ComboRefused, ComboRequest, OrderRefused, OrderRequest
from gateways.ib import mapping
from gateways.ib.errors import not_our_order
from gateways.ib.mapping import Leg
from gateways.ib.order_tracker import OrderTracker
from gateways.ib.outbox import Outbox

log = logging.getLogger(__name__)
T = TypeVar("T")
Read = Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]


class Link(Protocol):
    """What the desk needs of the connection (IBBroker)."""

    @property
    def address(self) -> str: ...

    def connected_ib(self) -> IB: ...

    def link_up(self) -> bool: ...

    def queue(self, queue: Callable[[], T], what: str) -> T: ...

    async def qualify_async(self, contract: OptionContract) -> OptionContract: ...

    def last_read(self, contract: OptionContract) -> int: ...


class OrderDesk:
    def __init__(self, link: Link, tracker: OrderTracker, outbox: Outbox, read: Read, client_id: int,
                 account: Callable[[], str]) -> None:
        self._link = link
        self._tracker = tracker
        self._outbox = outbox
        self._read = read
        self._client_id = client_id
        self._account = account
        self._to_verify: set[int] = set()
        tracker.verify = self.verify

    # --- new orders ------------------------------------------------------------------------------

    def place(self, request: OrderRequest) -> str:
        """Queue the order (the last guard first) and return its id at once; IB's answer arrives as events."""
        if request.quantity <= 0:
            raise BrokerError(f"order quantity must be positive, got {request.quantity}")

        def queue() -> str:
            ib = self._link.connected_ib()
            self._guard(request)
            order = mapping.to_ib_order(request, self._account())
            order.orderId = ib.client.getReqId()
            self._tracker.placed(order.orderId, request.contract, request.side, request.quantity, request.order_ref)
            self._outbox.submit(lambda: self._send_new(order, request))
            return str(order.orderId)

        return self._link.queue(queue, f"place {request.order_ref}")

    def _guard(self, request: OrderRequest) -> None:
        """The last guard (loop thread), on this gateway's own memory: its last read of the position and what
        the orders it tracks may still fill, ib_async's inferences aside."""
        working = self._tracker.working(request.contract, request.side)
        why = over_close(request.side, request.quantity, request.position, self._link.last_read(request.contract),
                         working)
        if why:
            raise OrderRefused(f"{request.order_ref} for {request.contract.key} not sent: {why}")

    def place_combo(self, request: ComboRequest) -> str:
        """Queue a combo (a BAG order, BUY ``quantity`` units, each leg with its closing action) after the last guard
        has checked every leg; its id at once, IB's answer as events."""
        if request.quantity <= 0:
            raise BrokerError(f"combo quantity must be positive, got {request.quantity}")
        if len(request.legs) < 2 or any(leg.ratio <= 0 for leg in request.legs):
            raise BrokerError(f"{request.order_ref}: a combo needs two or more legs with positive ratios")
        if len({leg.contract.key for leg in request.legs}) != len(request.legs):
            raise BrokerError(f"{request.order_ref}: a combo names each contract once")
        if len({leg.contract.symbol for leg in request.legs}) != 1:
            raise ComboRefused(f"{request.order_ref} not sent: this gateway sends combos on one underlying only")
        legs = tuple(Leg(leg.contract, leg.side, leg.ratio) for leg in request.legs)

        def queue() -> str:
            ib = self._link.connected_ib()
            for leg in request.legs:
                self._guard(OrderRequest(leg.contract, leg.side, leg.ratio * request.quantity, request.order_type,
                                         None, request.order_ref, leg.position))
            order = mapping.to_ib_combo_order(request, self._account())
            order.orderId = ib.client.getReqId()
            self._tracker.placed_combo(order.orderId, legs, request.quantity, request.order_ref)
            self._outbox.submit(lambda: self._send_combo(order, legs, request.order_ref))
            return str(order.orderId)

        return self._link.queue(queue, f"place {request.order_ref}")

    async def _send_combo(self, order: Order, legs: tuple[Leg, ...], order_ref: str) -> None:
        qualified = []
        for leg in legs:
            contract = await self._qualified(order.orderId, leg.contract, f"{order_ref} leg {leg.contract.key}")
            if contract is None:
                return
            qualified.append(Leg(contract, leg.action, leg.ratio))
        await self._place_paced(order, mapping.to_ib_combo(qualified))

    async def _send_new(self, order: Order, request: OrderRequest) -> None:
        contract = await self._qualified(order.orderId, request.contract, request.contract.key)
        if contract is not None:
            await self._place_paced(order, mapping.to_ib_option(contract))

    async def _qualified(self, order_id: int, contract: OptionContract, what: str) -> OptionContract | None:
        """The contract as IB knows it, or None with the order reported not sent (link down) or refused."""
        try:
            return await self._link.qualify_async(contract)
        except (BrokerError, TimeoutError, ConnectionError) as error:
            if not self._link.link_up():
                self._tracker.not_sent(order_id, f"not connected to IB Gateway at {self._link.address}")
            else:
                self._tracker.refused_before_sending(order_id, f"{what}: {error}")
            return None

    async def _place_paced(self, order: Order, ib_contract: Any) -> None:
        """Wait for the pacer, then send, unless the link dropped meanwhile (then nothing was sent)."""
        await self._outbox.pace()
        if not self._link.link_up():
            self._tracker.not_sent(order.orderId, f"not connected to IB Gateway at {self._link.address}; nothing sent")
            return
        self._link.connected_ib().placeOrder(ib_contract, order)

    # --- changes ---------------------------------------------------------------------------------

    def modify_limit(self, order_id: str, limit_price: float) -> None:
        def modify(trade: Trade) -> None:
            trade.order.orderType = "LMT"
            trade.order.lmtPrice = limit_price

        self._change(order_id, "modify", modify)

    def modify_to_market(self, order_id: str) -> None:
        def to_market(trade: Trade) -> None:
            trade.order.orderType = "MKT"
            for name in ("lmtPrice", "auxPrice", "trailStopPrice", "trailingPercent", "lmtPriceOffset"):
                setattr(trade.order, name, UNSET_DOUBLE)

        self._change(order_id, "convert to market", to_market)

    def cancel(self, order_id: str) -> None:
        self._change(order_id, "cancel", None)

    def _change(self, order_id: str, what: str, change: Callable[[Trade], None] | None) -> None:
        """Queue a change to one of this client's orders (``change`` None: cancel it). Refused at once when IB
        would never take it from this client; IB's own refusal of it arrives later as an event."""
        if int(order_id) == 0:
            # A TWS order no API client is bound to: ib_async's placeOrder would give it a new id, i.e. send a
            # second, new order while the original keeps working.
            raise not_our_order(order_id)

        def queue() -> None:
            if not self._tracker.knows(int(order_id)):
                self._tracker.track(self._own_trade(int(order_id)))  # refused at once if not this client's
            if change is None:
                self._tracker.mark_cancel_requested(int(order_id))
            self._outbox.submit(lambda: self._send_change(int(order_id), what, change))

        self._link.queue(queue, f"{what} order {order_id}")

    async def _send_change(self, order_id: int, what: str, change: Callable[[Trade], None] | None) -> None:
        """Sent in turn: a change queued right after its order's placement finds the Trade the placement made."""
        await self._outbox.pace()
        if not self._link.link_up():
            return  # the drop reports every unsettled order UNKNOWN; the change is decided again after it
        try:
            trade = self._own_trade(order_id)
        except BrokerError as error:
            self._tracker.change_not_sent(order_id, f"{what} not sent: {error}")
            return
        if trade.isDone():
            # ib_async may hold it ended on its own inference (a refused change): IB's open orders say.
            self._tracker.change_not_sent(order_id, f"{what} not sent: ib_async holds order {order_id} as "
                                          f"{trade.orderStatus.status}")
            return
        ib = self._link.connected_ib()
        if change is None:
            ib.cancelOrder(trade.order)
            return
        change(trade)
        ib.placeOrder(trade.contract, trade.order)  # same id (a combo: the same BAG and legs): a modification

    def _own_trade(self, order_id: int) -> Trade:
        """Our live Trade for an order id, from what ib_async holds (loop thread, no request).

        IB order ids are per client: the same id from another client is another order, which IB only
        lets that client modify, so it is refused rather than sent under our client id."""
        matches = [t for t in self._link.connected_ib().trades() if t.order.orderId == order_id]
        for trade in matches:
            if trade.order.clientId == self._client_id:
                return trade
        if matches:
            raise not_our_order(order_id)
        raise BrokerError(f"order {order_id} is not known to IB Gateway at {self._link.address}")

    # --- IB's word on an order ib_async holds ended ------------------------------------------------

    def verify(self, order_id: int) -> None:
        """Ask IB's open orders whether an order ib_async holds ended really works (loop thread)."""
        self._to_verify.add(order_id)
        if len(self._to_verify) == 1:
            asyncio.get_running_loop().create_task(self._verify_pending())

    async def _verify_pending(self) -> None:
        await asyncio.sleep(0)  # refusals that arrive together are settled by one read
        pending, self._to_verify = self._to_verify, set()
        try:
            ib = self._link.connected_ib()
            listed = {t.order.orderId: t for t in await self._read(ib.reqAllOpenOrdersAsync)
                      if t.order.clientId == self._client_id}
            for order_id in pending & listed.keys():
                self._tracker.confirmed_working(listed[order_id])
            gone = pending - listed.keys()
            if gone:
                fills = await self._read(lambda: ib.reqExecutionsAsync(ExecutionFilter(clientId=self._client_id)))
                for execution in self._tracker.executions(fills):
                    self._tracker.handler(execution)
                self._tracker.settle_vanished(listed.keys(), fills, only=gone)
        except (BrokerError, TimeoutError, ConnectionError) as error:
            # Left UNKNOWN: the next reconnect's reconciliation, or the next poll, settles it.
            log.warning("could not ask IB about order(s) %s: %s", sorted(pending), error)
