"""The paper broker's stock orders (the morning's disposal of delivered shares): placed, re-priced, filled on the
underlying's book by the shared fill model (domain.execution.fill_price), read back as StockOrderState.

Pure state under the paper broker's lock: the broker passes the time, the held shares and the quote.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import datetime

from domain.book import over_close
from domain.execution import fill_due, fill_price
from domain.model import OrderType, Quote
from gateways.broker import OrderRefused, OrderStatus, StockOrderRequest, StockOrderState


@dataclass
class _StockOrder:
    state: StockOrderState
    since: datetime  # placed or last re-priced: it fills no sooner than the fill delay after


class PaperStockOrders:
    def __init__(self, fill_delay_seconds: float) -> None:
        self.fill_delay_seconds = fill_delay_seconds
        self._orders: dict[str, _StockOrder] = {}
        self._ids = itertools.count(5001)
        self.placed: list[StockOrderRequest] = []

    def place(self, request: StockOrderRequest, held: int, now: datetime) -> str:
        """``held``: the signed shares the broker holds now; refuses (OrderRefused) what could take more."""
        working = sum(o.state.shares - o.state.filled for o in self._orders.values()
                      if o.state.symbol == request.symbol and o.state.side is request.side
                      and not o.state.status.is_final)
        why = over_close(request.side, request.shares, request.held, held, working)
        if why:
            raise OrderRefused(f"{request.order_ref} for {request.shares} {request.symbol} not sent: {why}")
        order_id = f"S{next(self._ids)}"
        self.placed.append(request)
        limit = request.limit_price if request.order_type is OrderType.LIMIT else None
        self._orders[order_id] = _StockOrder(StockOrderState(
            order_id, request.order_ref, request.symbol, request.side, request.shares, 0, None,
            OrderStatus.SUBMITTED, limit), now)
        return order_id

    def modify(self, order_id: str, limit_price: float | None, now: datetime) -> bool:
        """False when the order is no longer working."""
        order = self._orders.get(order_id)
        if order is None or order.state.status.is_final:
            return False
        order.state, order.since = replace(order.state, limit_price=limit_price), now
        return True

    def states(self) -> list[StockOrderState]:
        return [o.state for o in self._orders.values()]

    def working_symbols(self) -> set[str]:
        return {o.state.symbol for o in self._orders.values() if not o.state.status.is_final}

    def fill_due(self, symbol: str, quote: Quote, now: datetime) -> list[StockOrderState]:
        """The orders in ``symbol`` that fill now on this quote, whole, marked filled."""
        filled = []
        for order in self._orders.values():
            state = order.state
            if state.symbol != symbol or state.status.is_final or quote.bid is None or quote.ask is None:
                continue
            if not fill_due((now - order.since).total_seconds(), self.fill_delay_seconds):
                continue
            price = fill_price(state.side, state.limit_price, quote.bid, (quote.bid + quote.ask) / 2, quote.ask)
            if price is None:
                continue
            order.state = replace(state, filled=state.shares, average_price=price, status=OrderStatus.FILLED)
            filled.append(order.state)
        return filled
