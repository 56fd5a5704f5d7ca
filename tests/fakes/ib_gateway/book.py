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

from domain.execution import ComboLegQuote, combo_fill, combo_net
from domain.model import Side
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
        self._send(order.client_id, enc.commission_report(execution.exec_id, execution.commission or 0.0, 0.0))
        self.positions.move(order.contract, shares if order.action == "BUY" else -shares, price, at)
        self.push_due_positions()

    def fill_combo_if_marketable(self, order: FakeOrder) -> bool:
        """Fill a working combo whole, at once, if its legs' quotes let it (``combo_fill``); else it rests.

        Without a quote for every leg nothing fills (a market combo too: IB would price it on the legs' books)."""
        quotes = [self.quotes.get(leg.contract.key) for leg in order.legs]
        if not order.is_working or any(q is None for q in quotes):
            return False
        sold = order.action == "SELL"  # a sold combo: every leg the other way, the limit the other sign
        sides = [Side(leg.action).opposite if sold else Side(leg.action) for leg in order.legs]
        legs = tuple(ComboLegQuote(side, leg.ratio, q.bid, (q.bid + q.ask) / 2, q.ask)
                     for side, leg, q in zip(sides, order.legs, quotes, strict=True) if q is not None)
        limit = None if order.order_type == "MKT" else order.limit_price
        prices = combo_fill(legs, -limit if sold and limit is not None else limit)
        if prices is None:
            return False
        self.fill_combo(order, sides, prices)
        return True

    def fill_combo(self, order: FakeOrder, sides: list[Side], prices: tuple[float, ...]) -> None:
        """The whole remaining combo fills at once: as IB reports it, one execution per leg (its contract, side,
        ``ratio x units`` contracts, its price; each with its commission) and one for the BAG itself (units at the
        net, no commission of its own), then the combo's orderStatus; every leg's position moves together."""
        units = order.remaining
        net = round(combo_net((side, leg.ratio, price) for side, leg, price
                              in zip(sides, order.legs, prices, strict=True)), 4)
        order.avg_fill_price = (order.avg_fill_price * order.filled + net * units) / (order.filled + units)
        order.filled += units
        order.status = "Filled"
        at = self.clock()
        for side, leg, price in zip(sides, order.legs, prices, strict=True):
            shares = leg.ratio * units
            execution = self._execution(order, leg.contract, "BOT" if side is Side.BUY else "SLD", shares, price,
                                        shares, price, round(self.script.commission_per_contract * shares, 2), at)
            self._send(order.client_id, enc.exec_details(-1, execution))
            self._send(order.client_id, enc.commission_report(execution.exec_id, execution.commission or 0.0, 0.0))
            self.positions.move(leg.contract, side.signed(shares), price, at)
        bag = self._execution(order, order.contract, "BOT" if order.action == "BUY" else "SLD", units, net,
                              order.filled, order.avg_fill_price, None, at)
        self._send(order.client_id, enc.exec_details(-1, bag))
        self._send(order.client_id, enc.order_status_of(order, last_fill_price=net))
        self.push_due_positions()

    def _execution(self, order: FakeOrder, contract: FakeContract, side: str, shares: int, price: float,
                   cum_qty: int, avg_price: float, commission: float | None, at: float) -> Execution:
        execution = Execution(f"0000f00d.{next(self._exec_ids):08d}.01.01", order.api_id, order.perm_id,
                              order.client_id, contract, side, shares, price, cum_qty, avg_price, order.order_ref,
                              commission, at, order.account)
        self.executions.append(execution)
        return execution

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
                messages.append(enc.exec_details(query.req_id, e))
                if e.commission is not None:  # a BAG's own execution has none: its legs' carry the commission
                    messages.append(enc.commission_report(e.exec_id, e.commission, 0.0))
        return [*messages, enc.exec_details_end(query.req_id)]

    def price_of(self, contract: FakeContract) -> float | None:
        """A price for the contract from its quote (last, else mid), or None."""
        quote = self.quotes.get(contract.key)
        if quote is None:
            return None
        return quote.last if quote.last is not None else (quote.bid + quote.ask) / 2

    def underlying_price(self, contract: FakeContract) -> float | None:
        return self.price_of(self.instruments.by_key(contract.symbol)) if contract.sec_type == "OPT" else None
