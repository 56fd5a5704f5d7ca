"""Orders as IB works them: placement, modification and cancellation per API client, and TWS orders.

Order ids are per API client, as at IB: an order is stored by (client id, order id), so the same id
from another client is not a modification of it; a client may only touch orders it owns by the id
IB shows it (``FakeOrder.api_id``: a TWS order has 0 until client 0 binds it, see ``binding``).
A test's handle for an order is its ``order_id`` (unique across clients in the scripts).

What IB answers when it refuses, all with the order left as it was:
- placeOrder for an id the client does not own, below its next valid id: 103 (duplicate order id);
- a modification of a finished order: 104; a scripted refusal (``OrderBehaviour.refusing_modifications``);
- cancelOrder for an id the client does not own: 10147; of a finished order: 10148; a scripted refusal;
- anything that writes, under ``read_only``: 321;
- a combo (BAG) order under ``refuse_combos``: 201, then Cancelled (nothing placed).

A combo is one order with legs, in units: it fills whole or not at all, on the book's quotes of its legs
(``domain.execution.combo_fill``), when placed or modified and whenever a quote changes; a test's script of
behaviours does not apply to it.
A what-if order is never placed: it is answered with its margin and commission (``whatif``).
"""

from __future__ import annotations

import itertools
from collections import Counter

from tests.fakes.ib_gateway import codes
from tests.fakes.ib_gateway import encoders as enc
from tests.fakes.ib_gateway.binding import TwsBinding
from tests.fakes.ib_gateway.book import Book, Send
from tests.fakes.ib_gateway.contracts import FakeContract
from tests.fakes.ib_gateway.requests import PlaceOrderRequest
from tests.fakes.ib_gateway.script import FakeComboLeg, FakeOrder, Fill, GatewayScript, OrderBehaviour, Refusal
from tests.fakes.ib_gateway.whatif import what_if

RESTING_PREFIXES = ("STP", "TRAIL")  # stops and trailing stops rest: the fake does not trigger them


class OrderDesk:
    def __init__(self, script: GatewayScript, book: Book, send: Send) -> None:
        self.script = script
        self.book = book
        self._send = send
        self._perm_ids = itertools.count(9_000_001)
        self.binding = TwsBinding()
        self.orders: dict[tuple[int, int], FakeOrder] = {}
        self.behaviours: dict[tuple[int, int], OrderBehaviour] = {}
        self._refused: Counter[tuple[int, int, str]] = Counter()
        for order in script.open_orders:
            self._store(order, OrderBehaviour.rest())
        highest = max((order_id for _, order_id in self.orders), default=0)
        self.next_order_id = max(script.next_order_id, highest + 1)

    def find(self, order_id: int) -> FakeOrder:
        """The order with this handle, for a test (the ids a test scripts are unique across clients)."""
        [order] = [o for (_, oid), o in self.orders.items() if oid == order_id]
        return order

    def owned(self, client_id: int, api_id: int) -> FakeOrder | None:
        """The order ``client_id`` may modify or cancel by ``api_id``, if any."""
        if api_id == 0:
            return None  # an unbound TWS order: nobody's to touch
        return next((o for o in self.orders.values() if o.client_id == client_id and o.api_id == api_id), None)

    # --- from the API ----------------------------------------------------------------------------

    def place(self, client_id: int, request: PlaceOrderRequest, contract: FakeContract,
              legs: list[FakeComboLeg] | None = None) -> None:
        if self.script.read_only:
            self._send(client_id, enc.error(request.order_id, codes.READ_ONLY, codes.read_only("bh")))
            return
        if request.what_if and not legs:
            self._what_if(client_id, request, contract)
            return
        existing = self.owned(client_id, request.order_id)
        if existing is not None:
            self._modify(existing, request)
            return
        if request.order_id <= 0 or request.order_id < self.next_order_id:
            # Not one of this client's orders, and below the next valid id: IB refuses a reused id
            # (e.g. another client's order id, or an unbound TWS order's 0, sent as if to modify it).
            self._send(client_id, enc.error(request.order_id, codes.DUPLICATE_ORDER_ID,
                                            f"{codes.text(codes.DUPLICATE_ORDER_ID)} {request.order_id}"))
            return
        if legs:
            self._place_combo(client_id, request, contract, legs)
            return
        behaviour = self.script.contract_behaviours.get(contract.key) or (
            self.script.order_behaviours.pop(0) if self.script.order_behaviours else self.script.default_behaviour)
        order = FakeOrder(request.order_id, contract, request.action, request.quantity, request.order_type,
                          request.limit_price, request.aux_price, request.order_ref, client_id, 0, request.tif,
                          request.account, "PreSubmitted", trail_stop_price=request.trail_stop_price,
                          trailing_percent=request.trailing_percent, limit_offset=request.limit_offset,
                          bound_id=request.order_id if client_id == 0 else None)
        self._store(order, behaviour)
        self.next_order_id = max(self.next_order_id, request.order_id + 1)
        if behaviour.kind is Fill.REJECT:
            order.status = "Cancelled"
            self._send(client_id, enc.error(order.api_id, behaviour.error_code, behaviour.error_message))
            self._send(client_id, enc.order_status_of(order))
            return
        self._submit(order, behaviour)

    def _place_combo(self, client_id: int, request: PlaceOrderRequest, contract: FakeContract,
                     legs: list[FakeComboLeg]) -> None:
        order = FakeOrder(request.order_id, contract, request.action, request.quantity, request.order_type,
                          request.limit_price, request.aux_price, request.order_ref, client_id, 0, request.tif,
                          request.account, "PreSubmitted", legs=legs,
                          bound_id=request.order_id if client_id == 0 else None)
        self._store(order, OrderBehaviour.rest())
        self.next_order_id = max(self.next_order_id, request.order_id + 1)
        if self.script.refuse_combos:
            # IB's exact text varies with the reason (no combo permission, legs it will not combine, no SMART
            # combo routing for them); the code is 201 and the order is then Cancelled, as for other rejects.
            order.status = "Cancelled"
            self._send(client_id, enc.error(order.api_id, codes.ORDER_REJECTED, codes.COMBO_REJECTED_TEXT))
            self._send(client_id, enc.order_status_of(order))
            return
        self._submit(order, OrderBehaviour.rest())

    def recheck_combos(self) -> None:
        """A quote moved: every working combo that is now marketable fills."""
        for order in list(self.orders.values()):
            if order.legs and order.is_working:
                self.book.fill_combo_if_marketable(order)

    def _what_if(self, client_id: int, request: PlaceOrderRequest, contract: FakeContract) -> None:
        price = request.limit_price or self.book.price_of(contract) or 1.0
        underlying = self.book.underlying_price(contract) or price
        state = what_if(contract, request.action, request.quantity, price, underlying,
                        self.script.commission_per_contract)
        order = FakeOrder(request.order_id, contract, request.action, request.quantity, request.order_type,
                          request.limit_price, request.aux_price, request.order_ref, client_id, 0, request.tif,
                          request.account or self.book.account, "PreSubmitted")
        self.next_order_id = max(self.next_order_id, request.order_id + 1)  # the id is used up, as by an order
        self._send(client_id, enc.open_order(request.order_id, order, state))

    def _modify(self, order: FakeOrder, request: PlaceOrderRequest) -> None:
        if not order.is_working:
            self._send(order.client_id, enc.error(order.api_id, codes.CANNOT_MODIFY_FILLED,
                                                  codes.text(codes.CANNOT_MODIFY_FILLED)))
            return
        if self._refuses(order, "modify"):
            return
        order.quantity, order.order_type, order.tif = request.quantity, request.order_type, request.tif
        order.limit_price, order.aux_price = request.limit_price, request.aux_price
        order.trail_stop_price, order.trailing_percent = request.trail_stop_price, request.trailing_percent
        order.limit_offset = request.limit_offset
        self._submit(order, self.behaviours.get((order.client_id, order.order_id), OrderBehaviour.rest()))

    def cancel(self, client_id: int, order_id: int) -> None:
        if self.script.read_only:
            self._send(client_id, enc.error(order_id, codes.READ_ONLY, codes.read_only("bh")))
            return
        order = self.owned(client_id, order_id)
        if order is None:
            self._send(client_id, enc.error(order_id, codes.CANCEL_NOT_FOUND, codes.cancel_not_found(order_id)))
            return
        if not order.is_working:
            self._send(client_id, enc.error(order_id, codes.CANCEL_NOT_POSSIBLE,
                                            codes.cancel_not_possible(order_id, order.status)))
            return
        if self._refuses(order, "cancel"):
            return
        order.status = "Cancelled"
        self._send(order.client_id, enc.order_status_of(order))
        self._send(order.client_id, enc.error(order_id, codes.ORDER_CANCELLED, codes.text(codes.ORDER_CANCELLED)))

    def bind_tws_orders(self) -> None:
        """Client 0's reqOpenOrders: every open TWS order not yet bound gets its negative id."""
        for order in self.binding.unbound(self.orders.values()):
            self._send(0, self.binding.bind(order))

    # --- from the test ---------------------------------------------------------------------------

    def add(self, order: FakeOrder, behaviour: OrderBehaviour, bind: bool) -> None:
        """An order another API client (or TWS, client 0) placed; ``bind``: client 0 auto-binds TWS orders."""
        self._store(order, behaviour)
        self.next_order_id = max(self.next_order_id, order.order_id + 1)
        if bind and order.client_id == 0:
            self._send(0, self.binding.bind(order))
        self._submit(order, behaviour)

    # --- how orders work -------------------------------------------------------------------------

    def _store(self, order: FakeOrder, behaviour: OrderBehaviour) -> None:
        order.perm_id = order.perm_id or next(self._perm_ids)
        order.account = order.account or self.book.account
        self.orders[(order.client_id, order.order_id)] = order
        self.behaviours[(order.client_id, order.order_id)] = behaviour

    def _submit(self, order: FakeOrder, behaviour: OrderBehaviour) -> None:
        order.status = "Submitted"
        for message in enc.order_snapshot(order):
            self._send(order.client_id, message)
        if order.legs:
            self.book.fill_combo_if_marketable(order)
        elif order.order_type == "MKT":
            self.book.fill(order, behaviour.price)  # market orders fill, whatever the script
        elif order.order_type.startswith(RESTING_PREFIXES):
            return
        elif behaviour.kind is Fill.FILL:
            self.book.fill(order, behaviour.price)
        elif behaviour.kind is Fill.PARTIAL:
            self.book.fill(order, behaviour.price, behaviour.quantity)

    def _refuses(self, order: FakeOrder, kind: str) -> bool:
        """Is this modification / cancel refused by the script? If so IB's error goes out; the order is unchanged."""
        behaviour = self.behaviours.get((order.client_id, order.order_id), OrderBehaviour.rest())
        refusal: Refusal | None = behaviour.modify_refusal if kind == "modify" else behaviour.cancel_refusal
        counted = (order.client_id, order.order_id, kind)
        if refusal is None or (refusal.times is not None and self._refused[counted] >= refusal.times):
            return False
        self._refused[counted] += 1
        self._send(order.client_id, enc.error(order.api_id, refusal.code,
                                              refusal.message or codes.order_text(refusal.code, order.perm_id)))
        return True
