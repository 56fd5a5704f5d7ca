"""Binding TWS orders to API client 0, as IB does (https://interactivebrokers.github.io/tws-api/open_orders.html).

An order placed by hand in TWS has API order id 0 for every client, and nobody can modify or cancel
it through the API. Client 0 binds it: ``reqOpenOrders`` binds every open unbound TWS order,
``reqAutoOpenOrders(True)`` binds those placed afterwards at once; ``reqAllOpenOrders`` never binds.
A bound order gets a negative id (TWS's default "Use negative numbers to bind automatic orders":
-1, -2, ...), announced by orderBound (permId, clientId 0, orderId); from then on client 0 may modify
and cancel it by that id.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from tests.fakes.ib_gateway import encoders as enc
from tests.fakes.ib_gateway.script import FakeOrder


class TwsBinding:
    def __init__(self) -> None:
        self._ids = itertools.count(-1, -1)

    @staticmethod
    def unbound(orders: Iterable[FakeOrder]) -> list[FakeOrder]:
        return [o for o in orders if o.client_id == 0 and o.bound_id is None and o.is_working]

    def bind(self, order: FakeOrder) -> list[object]:
        """Give the TWS order its negative id; the orderBound message to send client 0."""
        order.bound_id = next(self._ids)
        return enc.order_bound(order.perm_id, 0, order.bound_id)
