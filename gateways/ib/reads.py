"""Reads of the account at IB: positions (options, shares, the rest), working orders, executions, contracts.

Each read is one paced request on the loop (pacing.py), made through ``run_paced`` from any thread. What a read
saw is kept for the last guard of the order desks (the option positions, the shares) and for naming the legs of
combo orders IB lists by conId (every option contract qualified or read).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from ib_async import IB, Contract, ExecutionFilter, Trade
from ib_async import Position as IBPosition

from domain.model import Execution, OptionContract, Position, Side, StockPosition, WorkingOrder
from gateways.broker import BrokerError
from gateways.ib import codes, mapping
from gateways.ib.connection import Connection
from gateways.ib.order_tracker import OrderTracker
from gateways.ib.pacing import Pacing
from gateways.ib.stock_orders import StockOrders


class Reads:
    def __init__(self, link: Connection, pacing: Pacing, tracker: OrderTracker, stock_desk: StockOrders) -> None:
        self._link, self._pacing, self._tracker, self._stock_desk = link, pacing, tracker, stock_desk
        self._read = pacing.read
        self._last_read: dict[str, int] = {}  # contract key -> position at the last read, for the last guard
        self._qualified: dict[str, OptionContract] = {}
        self._by_con_id: dict[int, OptionContract] = {}  # for the legs of combo orders IB lists by conId

    def positions(self) -> Sequence[Position]:
        async def read() -> list[Position]:
            return self.to_positions(await self._read(self._link.connected_ib().reqPositionsAsync))

        return self._pacing.run_paced(read, "positions not read")

    def to_positions(self, items: list) -> list[Position]:
        positions = [mapping.from_ib_position(p) for p in self._held(items) if mapping.is_option(p.contract)]
        self._by_con_id.update({p.contract.con_id: p.contract for p in positions if p.contract.con_id})
        self._last_read = {p.contract.key: p.quantity for p in positions}  # for the last guard
        return positions

    def _held(self, items: list[IBPosition]) -> list[IBPosition]:
        return [p for p in items if p.account == self._link.account and p.position]

    def stock_positions(self) -> Sequence[StockPosition]:
        async def read() -> list[StockPosition]:
            items = await self._read(self._link.connected_ib().reqPositionsAsync)
            stock = [mapping.from_ib_stock(p) for p in self._held(items) if mapping.is_stock(p.contract)]
            self._stock_desk.last_read = {s.symbol: s.shares for s in stock}  # for the stock orders' last guard
            return stock

        return self._pacing.run_paced(read, "positions not read")

    def other_positions(self) -> Sequence[IBPosition]:
        async def read() -> list[IBPosition]:
            items = await self._read(self._link.connected_ib().reqPositionsAsync)
            return [p for p in self._held(items) if not mapping.is_option(p.contract)]

        return self._pacing.run_paced(read, "positions not read")

    def working_orders(self) -> Sequence[WorkingOrder]:
        async def read() -> list[WorkingOrder]:
            trades = [t for t in await self._read(self._link.connected_ib().reqAllOpenOrdersAsync)
                      if t.orderStatus.status in codes.WORKING_STATES and t.order.account in ("", self._link.account)]
            orders = []
            for t in trades:
                if mapping.is_option(t.contract):
                    orders.append(mapping.to_working_order(t, self._link.client_id))
                elif mapping.is_combo(t.contract) and t.contract.comboLegs:
                    # One WorkingOrder per leg, so each position counts what the combo may still close of it.
                    orders.extend(mapping.combo_working_orders(t, await self.combo_legs(t), self._link.client_id))
            return orders

        return self._pacing.run_paced(read, "working orders not read")

    def executions(self) -> Sequence[Execution]:
        async def read() -> list[Execution]:
            return self._tracker.executions(await self.fills(self._link.connected_ib()))

        return self._pacing.run_paced(read, "executions not read")

    async def fills(self, ib: IB) -> list:
        """This client's executions as IB lists them (loop thread)."""
        return await self._read(lambda: ib.reqExecutionsAsync(ExecutionFilter(clientId=self._link.client_id)))

    def last_read(self, contract: OptionContract) -> int:
        return self._last_read.get(contract.key, 0)

    async def qualify_async(self, contract: OptionContract) -> OptionContract:
        """The contract with IB's conId filled in (one request the first time, cached after)."""
        known = contract if contract.con_id else self._qualified.get(contract.key)
        if known is not None:
            return known
        ib = self._link.connected_ib()
        details = await self._read(lambda: ib.reqContractDetailsAsync(mapping.to_ib_option(contract)))
        if len(details) != 1 or details[0].contract is None:
            raise BrokerError(f"IB does not know one contract {contract.key} ({len(details)} matches)")
        qualified = mapping.from_ib_option(details[0].contract)
        self._qualified[contract.key] = qualified
        if qualified.con_id:
            self._by_con_id[qualified.con_id] = qualified
        return qualified

    async def combo_legs(self, trade: Trade) -> tuple[mapping.Leg, ...]:
        """The legs of a BAG order as IB lists them (by conId, each with its action and ratio), as options: from
        the contracts this gateway qualified or read, else one contract-details request per unknown leg."""
        legs = []
        for leg in trade.contract.comboLegs or []:
            contract = self._by_con_id.get(leg.conId)
            if contract is None:
                details = await self._read(functools.partial(self._link.connected_ib().reqContractDetailsAsync,
                                                             Contract(conId=leg.conId)))
                if len(details) != 1 or details[0].contract is None or not mapping.is_option(details[0].contract):
                    raise BrokerError(f"IB does not know the option with conId {leg.conId}, a leg of combo order "
                                      f"{trade.order.orderId}")
                contract = mapping.from_ib_option(details[0].contract)
                self._by_con_id[leg.conId] = contract
            legs.append(mapping.Leg(contract, Side(leg.action), int(leg.ratio)))
        return tuple(legs)
