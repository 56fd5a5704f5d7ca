"""The fake gateway's account: positions, orders, executions and quotes, and how orders are worked.

Pure state plus an ``outbox``: every message the book wants delivered goes out through
``send(client_id, fields)`` (to the API client that owns an order; ``None`` for every client) or
``send_positions(fields)`` (to clients subscribed to position updates). The server wires those to
its sockets; the book never touches one.

Order ids are per API client, as at IB: an order is keyed by (client id, order id), so the same id
from another client is not a modification of it. Client id 0 stands for orders placed in TWS by
hand: other clients see them with order id 0 (IB binds them to no API client but 0).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.fakes.ib_gateway import encoders as enc
from tests.fakes.ib_gateway.contracts import FakeContract
from tests.fakes.ib_gateway.script import FakeOrder, FakePosition, Fill, GatewayScript, OrderBehaviour

Send = Callable[[int | None, list[object]], None]


@dataclass
class QuoteState:
    bid: float
    ask: float
    last: float | None = None
    implied_vol: float | None = None


@dataclass(frozen=True)
class Execution:
    exec_id: str
    order_id: int
    perm_id: int
    client_id: int
    contract: FakeContract
    side: str  # BOT / SLD
    shares: int
    price: float
    cum_qty: int
    avg_price: float
    order_ref: str
    commission: float
    time_text: str


class Book:
    def __init__(self, script: GatewayScript, send: Send, send_positions: Callable[[list[object]], None]) -> None:
        self.script = script
        self.account = script.account
        self._send = send
        self._send_positions = send_positions
        self._perm_ids = itertools.count(9_000_001)
        self._exec_ids = itertools.count(1)
        self.contracts: dict[int, FakeContract] = {FakeContract.stock().con_id: FakeContract.stock()}
        self.positions = {p.contract.con_id: p for p in script.positions}
        self.orders: dict[tuple[int, int], FakeOrder] = {(o.client_id, o.order_id): o for o in script.open_orders}
        self.behaviours: dict[tuple[int, int], OrderBehaviour] = {}  # by (client id, order id)
        self.executions: list[Execution] = []
        self.quotes: dict[str, QuoteState] = {}
        for item in [*script.positions, *script.open_orders]:
            self.contracts[item.contract.con_id] = item.contract
        for order in script.open_orders:
            order.perm_id = order.perm_id or next(self._perm_ids)
            order.account = order.account or self.account
        highest = max((order_id for _, order_id in self.orders), default=0)
        self.next_order_id = max(script.next_order_id, highest + 1)

    # --- instruments -------------------------------------------------------------------------

    def find_contract(self, symbol: str, sec_type: str, expiry: str, strike: str, right: str,
                      con_id: str) -> FakeContract | None:
        for contract in self.contracts.values():
            if contract.matches(symbol, sec_type, expiry, strike, right, con_id):
                return contract
        complete = symbol.upper() == "SPY" and sec_type == "OPT" and len(expiry) >= 8 and strike and right
        if complete and (not con_id or con_id == "0"):
            # Every fully specified SPY option exists; it gets its conId on first sight.
            contract = FakeContract.option(f"SPY {expiry[:8]} {float(strike):g}{right[:1].upper()}")
            self.contracts[contract.con_id] = contract
            return contract
        return None

    def contract_by_key(self, key: str) -> FakeContract:
        for contract in self.contracts.values():
            if contract.key == key:
                return contract
        contract = FakeContract.option(key)
        self.contracts[contract.con_id] = contract
        return contract

    # --- orders --------------------------------------------------------------------------------

    def find(self, order_id: int) -> FakeOrder:
        """The order with this id, for a test (the ids a test scripts are unique across clients)."""
        [order] = [o for (_, oid), o in self.orders.items() if oid == order_id]
        return order

    def place(self, client_id: int, order_id: int, contract: FakeContract, action: str, quantity: int,
              order_type: str, limit_price: float | None, aux_price: float | None, tif: str, account: str,
              order_ref: str) -> None:
        existing = self.orders.get((client_id, order_id))
        if existing is not None:
            self._modify(existing, quantity, order_type, limit_price, aux_price)
            return
        if order_id < self.next_order_id:
            # Not one of this client's orders, and below the next valid id: IB refuses a reused id
            # (e.g. another client's order id, sent as if to modify it).
            self._send(client_id, enc.error(order_id, 103, f"Duplicate order id {order_id}"))
            return
        behaviour = self.script.order_behaviours.pop(0) if self.script.order_behaviours \
            else self.script.default_behaviour
        order = FakeOrder(order_id, contract, action, quantity, order_type, limit_price, aux_price, order_ref,
                          client_id, next(self._perm_ids), tif, account or self.account, "PreSubmitted")
        self.orders[(client_id, order_id)] = order
        self.behaviours[(client_id, order_id)] = behaviour
        self.next_order_id = max(self.next_order_id, order_id + 1)
        if behaviour.kind is Fill.REJECT:
            order.status = "Cancelled"
            self._send(client_id, enc.error(order_id, behaviour.error_code, behaviour.error_message))
            self._report_status(order)
            return
        order.status = "Submitted"
        self._report_open(order)
        self._work(order, behaviour)

    def _modify(self, order: FakeOrder, quantity: int, order_type: str, limit_price: float | None,
                aux_price: float | None) -> None:
        if not order.is_working:
            self._send(order.client_id, enc.error(order.order_id, 104, f"Cannot modify a {order.status} order"))
            return
        order.quantity, order.order_type = quantity, order_type
        order.limit_price, order.aux_price = limit_price, aux_price
        self._report_open(order)
        self._work(order, self.behaviours.get((order.client_id, order.order_id), OrderBehaviour.rest()))

    def _work(self, order: FakeOrder, behaviour: OrderBehaviour) -> None:
        if order.order_type == "MKT":
            self.fill(order, behaviour.price)  # market orders fill, whatever the script
        elif order.order_type.startswith("STP"):
            return  # stops rest: the fake does not trigger them
        elif behaviour.kind is Fill.FILL:
            self.fill(order, behaviour.price)
        elif behaviour.kind is Fill.PARTIAL:
            self.fill(order, behaviour.price, behaviour.quantity)

    def cancel(self, client_id: int, order_id: int) -> None:
        order = self.orders.get((client_id, order_id))
        if order is None or not order.is_working:
            state = order.status if order else "unknown"
            self._send(client_id, enc.error(order_id, 10148,
                                            f"OrderId {order_id} that needs to be cancelled cannot be cancelled, "
                                            f"state: {state}."))
            return
        order.status = "Cancelled"
        self._report_status(order)
        self._send(order.client_id, enc.error(order_id, 202, "Order Canceled - reason:"))

    def fill(self, order: FakeOrder, price: float | None = None, quantity: int | None = None) -> None:
        if not order.is_working:
            raise ValueError(f"order {order.order_id} is {order.status}, cannot fill")
        shares = min(quantity or order.remaining, order.remaining)
        price = price if price is not None else self._fill_price(order)
        order.avg_fill_price = (order.avg_fill_price * order.filled + price * shares) / (order.filled + shares)
        order.filled += shares
        if order.remaining == 0:
            order.status = "Filled"
        execution = Execution(
            f"0000f00d.{next(self._exec_ids):08d}.01.01", order.order_id, order.perm_id, order.client_id,
            order.contract, "BOT" if order.action == "BUY" else "SLD", shares, price, order.filled,
            order.avg_fill_price, order.order_ref, round(self.script.commission_per_contract * shares, 2),
            time.strftime("%Y%m%d %H:%M:%S UTC", time.gmtime()))
        self.executions.append(execution)
        self._send(order.client_id, self.exec_message(-1, execution))
        self._report_status(order, last_fill_price=price)
        self._send(order.client_id, enc.commission_report(execution.exec_id, execution.commission, 0.0))
        self._move_position(order.contract, shares if order.action == "BUY" else -shares, price)

    def _fill_price(self, order: FakeOrder) -> float:
        if order.order_type != "MKT" and order.limit_price is not None:
            return order.limit_price
        quote = self.quotes.get(order.contract.key)
        if quote is not None:
            return quote.ask if order.action == "BUY" else quote.bid
        return order.limit_price or order.aux_price or 1.0

    def _move_position(self, contract: FakeContract, delta: int, price: float) -> None:
        position = self.positions.setdefault(contract.con_id, FakePosition(contract, 0, price * 100))
        position.quantity += delta
        self._send_positions(enc.position(self.account, contract, position.quantity, position.avg_cost))

    # --- messages describing state --------------------------------------------------------------

    def open_order_messages(self, order: FakeOrder, for_client: int) -> list[list[object]]:
        """openOrder and orderStatus for one order as ``for_client`` sees it: a TWS order has id 0."""
        order_id = 0 if order.client_id == 0 and for_client != 0 else order.order_id
        return [
            enc.open_order(order_id, order.contract, action=order.action, quantity=order.quantity,
                           order_type=order.order_type, limit_price=order.limit_price, aux_price=order.aux_price,
                           tif=order.tif, account=order.account, order_ref=order.order_ref,
                           client_id=order.client_id, perm_id=order.perm_id, status=order.status),
            self._status_message(order, 0.0, order_id),
        ]

    def exec_message(self, req_id: int, e: Execution) -> list[object]:
        return enc.exec_details(req_id, e.order_id, e.contract, e.exec_id, e.time_text, self.account, e.side,
                                e.shares, e.price, e.perm_id, e.client_id, e.cum_qty, e.avg_price, e.order_ref)

    def _status_message(self, order: FakeOrder, last_fill_price: float, order_id: int | None = None) -> list[object]:
        return enc.order_status(order.order_id if order_id is None else order_id, order.status, order.filled,
                                order.remaining, order.avg_fill_price, order.perm_id, last_fill_price,
                                order.client_id)

    def _report_open(self, order: FakeOrder) -> None:
        for message in self.open_order_messages(order, order.client_id):
            self._send(order.client_id, message)

    def _report_status(self, order: FakeOrder, last_fill_price: float = 0.0) -> None:
        self._send(order.client_id, self._status_message(order, last_fill_price))
