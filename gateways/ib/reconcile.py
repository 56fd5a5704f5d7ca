"""The reconciliation after every (re)connect, in a fixed order: orders, then fills, then positions, then
whether IB takes orders at all.

Open orders of ours (by orderRef) are adopted, never sent again; TWS orders are bound when running as client id 0.
Executions bring the fills missed while away, and settle the orders that ended meanwhile (order_tracker.py).
Positions are read afresh for the last guard. A what-if order learns whether the API is read-only (write_access.py).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from domain.model import Position, WorkingOrder
from domain.order_refs import is_cleanup_ref
from gateways.ib import mapping
from gateways.ib.connection import Connection
from gateways.ib.order_tracker import OrderTracker
from gateways.ib.pacing import Pacing
from gateways.ib.reads import Reads
from gateways.ib.write_access import WriteAccess

log = logging.getLogger("gateways.ib.broker")  # the facade's name: the operator's log lines stay as they were


@dataclass(frozen=True)
class Reconciliation:
    """The result of the sync after a (re)connect, in the order it was done."""

    adopted: tuple[WorkingOrder, ...]
    executions: int
    positions: tuple[Position, ...]


class Reconciler:
    def __init__(self, link: Connection, pacing: Pacing, reads: Reads, tracker: OrderTracker,
                 access: WriteAccess) -> None:
        self._link, self._reads, self._tracker, self._access = link, reads, tracker, access
        self._read = pacing.read
        self.last: Reconciliation | None = None

    async def run(self) -> Reconciliation:
        """After every (re)connect: orders (ours adopted; TWS orders bound when we are client 0), then fills,
        then positions, then whether IB takes orders at all."""
        ib = self._link.connected_ib()
        client_id = self._link.client_id
        if client_id == 0:
            # Only client 0 may bind orders placed by hand in TWS, which then get an order id it can modify
            # (reqOpenOrders binds those open now, reqAutoOpenOrders those placed later).
            await self._read(ib.reqOpenOrdersAsync)
            ib.reqAutoOpenOrders(True)
        open_trades = await self._read(ib.reqAllOpenOrdersAsync)
        adopted = []
        open_ids = set()
        for trade in open_trades:
            if trade.order.clientId != client_id:
                continue
            open_ids.add(trade.order.orderId)
            if is_cleanup_ref(trade.order.orderRef) and mapping.is_option(trade.contract):
                self._tracker.report(trade)
                adopted.append(mapping.to_working_order(trade, client_id))
            elif is_cleanup_ref(trade.order.orderRef) and mapping.is_combo(trade.contract):
                legs = await self._reads.combo_legs(trade)
                self._tracker.report(trade, legs)
                adopted.extend(mapping.combo_working_orders(trade, legs, client_id))
        fills = await self._reads.fills(ib)
        executions = self._tracker.executions(fills)
        self._tracker.settle_vanished(open_ids, fills)
        for execution in executions:
            self._tracker.handler(execution)
        positions = self._reads.to_positions(await self._read(ib.reqPositionsAsync))
        await self._access.probe(self._link.connected_ib())
        if self._access.writable is False:
            asyncio.get_running_loop().create_task(self._access.probe_until_writable(ib))
        result = Reconciliation(tuple(adopted), len(fills), tuple(positions))
        self.last = result
        log.info("IB reconciled: %d order(s) adopted, %d execution(s), %d position(s), orders %s",
                 len(result.adopted), result.executions, len(result.positions),
                 {True: "accepted", False: "REFUSED (read-only API)", None: "not confirmed"}[self._access.writable])
        return result
