"""The fake gateway's account: instruments, positions, executions and quotes; fills move them.

Pure state plus an outbox: every message the book wants delivered goes out through
``send(client_id, fields)`` (to the API client that owns an order; ``None`` for every client) or
``send_positions(fields)`` (to clients subscribed to position updates). The server wires those to
its sockets; the book never touches one. Orders live in ``orders.OrderDesk``, which fills through
``Book.fill``.

Time comes from ``clock`` (epoch seconds; ``time.time`` unless a test sets another with
``FakeIBGateway.use_clock``): execution times, position-read lag, reqCurrentTime.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from tests.fakes.ib_gateway import encoders as enc
from tests.fakes.ib_gateway.contracts import FakeContract
from tests.fakes.ib_gateway.executions import Execution, admits
from tests.fakes.ib_gateway.instruments import Instruments
from tests.fakes.ib_gateway.market_data import Quote
from tests.fakes.ib_gateway.positions import PositionBook
from tests.fakes.ib_gateway.requests import ExecutionFilterRequest
from tests.fakes.ib_gateway.script import FakeOrder, GatewayScript

Send = Callable[[int | None, list[object]], None]


class Clock:
    def __init__(self) -> None:
        self._now: Callable[[], float] = time.time

    def use(self, now: Callable[[], float]) -> None:
        self._now = now

    def __call__(self) -> float:
        return self._now()


class Book:
    def __init__(self, script: GatewayScript, send: Send, send_positions: Callable[[list[object]], None]) -> None:
        self.script = script
        self.account = script.account
        self.clock = Clock()
        self._send = send
        self._send_positions = send_positions
        self._exec_ids = itertools.count(1)
        self.instruments = Instruments([*(p.contract for p in script.positions),
                                        *(o.contract for o in script.open_orders)])
        self.positions = PositionBook(script.positions, script.position_lag_seconds)
        self.executions: list[Execution] = []
        self.quotes: dict[str, Quote] = {}

    # --- fills ---------------------------------------------------------------------------------

    def fill(self, order: FakeOrder, price: float | None = None, quantity: int | None = None) -> None:
        if not order.is_working:
            raise ValueError(f"order {order.order_id} is {order.status}, cannot fill")
        shares = min(quantity or order.remaining, order.remaining)
        price = price if price is not None else self._fill_price(order)
        order.avg_fill_price = (order.avg_fill_price * order.filled + price * shares) / (order.filled + shares)
        order.filled += shares
        if order.remaining == 0:
            order.status = "Filled"
        at = self.clock()
        execution = Execution(
            f"0000f00d.{next(self._exec_ids):08d}.01.01", order.api_id, order.perm_id, order.client_id,
            order.contract, "BOT" if order.action == "BUY" else "SLD", shares, price, order.filled,
            order.avg_fill_price, order.order_ref, round(self.script.commission_per_contract * shares, 2), at,
            order.account)
        self.executions.append(execution)
        self._send(order.client_id, enc.exec_details(-1, execution))
        self._send(order.client_id, enc.order_status_of(order, last_fill_price=price))
        self._send(order.client_id, enc.commission_report(execution.exec_id, execution.commission, 0.0))
        self.positions.move(order.contract, shares if order.action == "BUY" else -shares, price, at)
        self.push_due_positions()

    def _fill_price(self, order: FakeOrder) -> float:
        if order.order_type != "MKT" and order.limit_price is not None:
            return order.limit_price
        quote = self.quotes.get(order.contract.key)
        if quote is not None:
            return quote.ask if order.action == "BUY" else quote.bid
        return order.limit_price or order.aux_price or 1.0

    # --- what IB reports ---------------------------------------------------------------------------

    def push_due_positions(self) -> None:
        """Position updates for subscribers, once a fill is old enough to show in position reads."""
        for position, quantity in self.positions.due(self.clock()):
            self._send_positions(enc.position(self.account, position.contract, quantity, position.avg_cost))

    def position_messages(self) -> list[list[object]]:
        """A reqPositions answer: what a position read shows now (lagging fills by ``position_lag_seconds``)."""
        return [*(enc.position(self.account, p.contract, quantity, p.avg_cost)
                  for p, quantity in self.positions.reported_positions(self.clock())), enc.position_end()]

    def execution_messages(self, query: ExecutionFilterRequest) -> list[list[object]]:
        """A reqExecutions answer: every execution the filter admits, each with its commission report."""
        messages: list[list[object]] = []
        for e in self.executions:
            if admits(query, e):
                messages += [enc.exec_details(query.req_id, e), enc.commission_report(e.exec_id, e.commission, 0.0)]
        return [*messages, enc.exec_details_end(query.req_id)]

    def price_of(self, contract: FakeContract) -> float | None:
        """A price for the contract from its quote (last, else mid), or None."""
        quote = self.quotes.get(contract.key)
        if quote is None:
            return None
        return quote.last if quote.last is not None else (quote.bid + quote.ask) / 2

    def underlying_price(self, contract: FakeContract) -> float | None:
        return self.price_of(self.instruments.by_key(contract.symbol)) if contract.sec_type == "OPT" else None
