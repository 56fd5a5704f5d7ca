"""Stock orders at IB (the morning's disposal of shares an exercise or assignment delivered), kept apart from the
option order desk: they are read (``states``), not pushed as events, so the Executor's option event stream and its
tracker never see them (the tracker ignores orders it does not track).

A placement is checked by the last guard against IB's last read of the shares and our stock orders still working,
then sent through the same paced outbox as every order. ``states`` lists ib_async's trades of this client with our
order refs, so a process that reconnected (ib_async holds the open orders its reconciliation read) finds the
disposal it sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ib_async import IB, Contract, Order, Stock, Trade
from ib_async.util import UNSET_DOUBLE

from domain.book import over_close
from domain.model import Side
from domain.order_refs import is_cleanup_ref
from gateways.broker import BrokerError, OrderRefused, OrderStatus, StockOrderRequest, StockOrderState
from gateways.ib import codes, mapping
from gateways.ib.outbox import Outbox


class StockLink(Protocol):
    @property
    def address(self) -> str: ...

    def connected_ib(self) -> IB: ...

    def link_up(self) -> bool: ...

    def queue(self, queue: Callable[[], object], what: str) -> object: ...


_STATUS = {"Filled": OrderStatus.FILLED, "Cancelled": OrderStatus.CANCELLED, "ApiCancelled": OrderStatus.CANCELLED,
           "Inactive": OrderStatus.REJECTED}


class StockOrders:
    def __init__(self, link: StockLink, outbox: Outbox, client_id: int, account: Callable[[], str]) -> None:
        self._link, self._outbox, self._client_id, self._account = link, outbox, client_id, account
        self.last_read: dict[str, int] = {}  # shares by symbol, from the broker's last stock read (loop thread)

    def place(self, request: StockOrderRequest) -> str:
        if request.shares <= 0:
            raise BrokerError(f"order shares must be positive, got {request.shares}")

        def queue() -> str:
            ib = self._link.connected_ib()
            working = sum(int(t.orderStatus.remaining) for t in self._ours(ib)
                          if t.contract.symbol == request.symbol and t.order.action == request.side.value
                          and t.orderStatus.status in codes.WORKING_STATES)
            why = over_close(request.side, request.shares, request.held, self.last_read.get(request.symbol, 0), working)
            if why:
                raise OrderRefused(f"{request.order_ref} for {request.shares} {request.symbol} not sent: {why}")
            order = _order(request, self._account())
            order.orderId = ib.client.getReqId()
            self._outbox.submit(lambda: self._send(order, Stock(request.symbol, "SMART", "USD")))
            return str(order.orderId)

        return str(self._link.queue(queue, f"place {request.order_ref}"))

    async def _send(self, order: Order, contract: Contract) -> None:
        await self._outbox.pace()
        if self._link.link_up():
            self._link.connected_ib().placeOrder(contract, order)

    def modify(self, order_id: str, limit_price: float | None) -> None:
        def queue() -> None:
            ib = self._link.connected_ib()
            trade = next((t for t in self._ours(ib) if t.order.orderId == int(order_id)), None)
            if trade is None or trade.isDone():
                raise BrokerError(f"stock order {order_id} is no longer working at IB Gateway {self._link.address}")
            if limit_price is None:
                trade.order.orderType, trade.order.lmtPrice = "MKT", UNSET_DOUBLE
            else:
                trade.order.orderType, trade.order.lmtPrice = "LMT", limit_price
            self._outbox.submit(lambda: self._send(trade.order, trade.contract))

        self._link.queue(queue, f"modify stock order {order_id}")

    def states(self) -> list[StockOrderState]:
        def queue() -> list[StockOrderState]:
            return [_state(t) for t in self._ours(self._link.connected_ib())]

        result = self._link.queue(queue, "stock orders not read")
        assert isinstance(result, list)
        return result

    def _ours(self, ib: IB) -> list[Trade]:
        return [t for t in ib.trades() if t.contract.secType == "STK" and t.order.clientId == self._client_id
                and is_cleanup_ref(t.order.orderRef)]


def _order(request: StockOrderRequest, account: str) -> Order:
    return mapping.day_order(request.side, request.shares, request.order_type, request.limit_price,
                             request.order_ref, account, "stock orders")


def _state(trade: Trade) -> StockOrderState:
    status = trade.orderStatus
    filled = int(status.filled)
    final = _STATUS.get(status.status)
    working = OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.SUBMITTED
    limit = trade.order.lmtPrice if trade.order.orderType == "LMT" and trade.order.lmtPrice != UNSET_DOUBLE else None
    return StockOrderState(str(trade.order.orderId), trade.order.orderRef, trade.contract.symbol,
                           Side(trade.order.action), int(trade.order.totalQuantity), filled,
                           float(status.avgFillPrice) if filled else None, final or working,
                           float(limit) if limit is not None else None,
                           "; ".join(entry.message for entry in trade.log if entry.message)[-200:])
