"""One API client connection to the fake gateway: handshake, then request -> reply dispatch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from tests.fakes.ib_gateway import encoders as enc
from tests.fakes.ib_gateway.wire import FrameReader, frame, parse_version_range

if TYPE_CHECKING:
    from tests.fakes.ib_gateway.server import FakeIBGateway

# Market-data error codes after which IB still streams for the request, and the data type it streams.
STREAMS_AFTER = {10090: 1, 10091: 1, 10167: 3}
DELAYED_TYPES = (3, 4)
# Offsets of the contract block inside requests (after msg id, version, request id, ...).
CONTRACT_AT = {"reqMktData": 3, "reqContractDetails": 3, "placeOrder": 2}


def _contract_args(fields: list[str], at: int) -> tuple[str, str, str, str, str, str]:
    """(symbol, secType, expiry, strike, right, conId) from the 12-field contract block the client sends."""
    con_id, symbol, sec_type, expiry, strike, right = fields[at:at + 6]
    return symbol, sec_type, expiry, strike, right, con_id


def _price(text: str) -> float | None:
    return float(text) if text not in ("", "1.7976931348623157e+308") else None


class Session(asyncio.Protocol):
    def __init__(self, gateway: FakeIBGateway, number: int) -> None:
        self.gateway = gateway
        self.book = gateway.book
        self.number = number
        self.client_id: int | None = None
        self.transport: asyncio.Transport | None = None
        self.reader = FrameReader()
        self.handshaken = False
        self.wants_positions = False
        self.market_data: dict[int, str] = {}  # request id -> instrument key
        self.data_types: dict[int, int] = {}  # request id -> the market data type it streams
        self.handlers: dict[str, Callable[[list[str]], None]] = {
            "startApi": self._start_api, "reqPositions": self._positions, "cancelPositions": self._no_positions,
            "reqOpenOrders": self._open_orders, "reqAllOpenOrders": self._all_open_orders,
            "reqCompletedOrders": lambda f: self.send(enc.completed_orders_end()),
            "reqExecutions": self._executions, "reqAccountUpdates": self._account_updates,
            "reqAccountUpdatesMulti": lambda f: self.send(enc.account_update_multi_end(int(f[2]))),
            "reqAccountSummary": self._account_summary, "reqContractDetails": self._contract_details,
            "reqMktData": self._market_data, "cancelMktData": self._cancel_market_data,
            "placeOrder": self._place_order, "cancelOrder": lambda f: self.book.cancel(self.client_id or 0, int(f[2])),
            "reqIds": lambda f: self.send(enc.next_valid_id(self.book.next_order_id)),
            "reqCurrentTime": lambda f: self.send(enc.current_time(int(time.time()))),
            "reqManagedAccts": lambda f: self.send(enc.managed_accounts([self.book.account])),
        }

    # --- socket ---------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.gateway.sessions.discard(self)

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.reader.feed(data)
        except ValueError:
            self.close()
            return
        for fields in messages:
            self._handle(fields)
            if self.transport is None:
                return

    def send(self, fields: list[object]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(fields))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()
            self.transport = None
        self.gateway.sessions.discard(self)

    # --- dispatch -------------------------------------------------------------------------------

    def _handle(self, fields: list[str]) -> None:
        if not self.handshaken:
            self.gateway.record(self, "handshake", fields)
            parse_version_range(fields)
            self.handshaken = True
            self.send(enc.handshake_reply(time.strftime("%Y%m%d %H:%M:%S UTC", time.gmtime())))
            return
        name = enc.REQUEST_NAMES.get(int(fields[0]), f"msg{fields[0]}")
        self.gateway.record(self, name, fields)
        handler = self.handlers.get(name)
        if handler is not None and name not in self.gateway.script.unanswered:
            handler(fields)
        self.gateway.after_message(self, name)

    def _start_api(self, fields: list[str]) -> None:
        self.client_id = int(fields[2])
        self.send(enc.next_valid_id(self.book.next_order_id))
        self.send(enc.managed_accounts([self.book.account]))
        for code in self.gateway.script.codes_on_connect:
            self.send(enc.connectivity(code))

    def _positions(self, fields: list[str]) -> None:
        self.wants_positions = True
        for p in self.book.positions.values():
            if p.quantity:
                self.send(enc.position(self.book.account, p.contract, p.quantity, p.avg_cost))
        self.send(enc.position_end())

    def _no_positions(self, fields: list[str]) -> None:
        self.wants_positions = False

    def _open_orders(self, fields: list[str], everyone: bool = False) -> None:
        for order in self.book.orders.values():
            if order.is_working and (everyone or order.client_id == self.client_id):
                for message in self.book.open_order_messages(order, self.client_id or 0):
                    self.send(message)
        self.send(enc.open_order_end())

    def _all_open_orders(self, fields: list[str]) -> None:
        self._open_orders(fields, everyone=True)

    def _executions(self, fields: list[str]) -> None:
        req_id = int(fields[2])
        for execution in self.book.executions:
            self.send(self.book.exec_message(req_id, execution))
            self.send(enc.commission_report(execution.exec_id, execution.commission, 0.0))
        self.send(enc.exec_details_end(req_id))

    def _account_updates(self, fields: list[str]) -> None:
        if fields[2] not in ("1", "True"):
            return
        for key, value in (("NetLiquidation", "250000.00"), ("AvailableFunds", "180000.00")):
            self.send(enc.account_value(key, value, "USD", self.book.account))
        self.send(enc.account_download_end(self.book.account))

    def _account_summary(self, fields: list[str]) -> None:
        req_id = int(fields[2])
        self.send(enc.account_summary(req_id, self.book.account, "NetLiquidation", "250000.00", "USD"))
        self.send(enc.account_summary_end(req_id))

    def _contract_details(self, fields: list[str]) -> None:
        req_id = int(fields[2])
        contract = self.book.find_contract(*_contract_args(fields, CONTRACT_AT["reqContractDetails"]))
        if contract is None:
            self.send(enc.error(req_id, 200, "No security definition has been found for the request"))
            return
        self.send(enc.contract_details(req_id, contract, under_con_id=756733))
        self.send(enc.contract_details_end(req_id))

    def _market_data(self, fields: list[str]) -> None:
        req_id = int(fields[2])
        contract = self.book.find_contract(*_contract_args(fields, CONTRACT_AT["reqMktData"]))
        if contract is None:
            self.send(enc.error(req_id, 200, "No security definition has been found for the request"))
            return
        refusal = self.gateway.script.market_data_errors.get(contract.key)
        if refusal is not None:
            self.send(enc.error(req_id, *refusal))
            if refusal[0] not in STREAMS_AFTER:
                return  # refused: IB keeps nothing for this request
        self.market_data[req_id] = contract.key
        data_type = STREAMS_AFTER[refusal[0]] if refusal else self.gateway.script.market_data_types.get(contract.key, 1)
        self.data_types[req_id] = data_type
        self.send(enc.market_data_type(req_id, data_type))  # IB announces the type before the first tick
        self.push_quote(contract.key)

    def _cancel_market_data(self, fields: list[str]) -> None:
        req_id = int(fields[2])
        if self.market_data.pop(req_id, None) is None:
            self.send(enc.error(req_id, 300, f"Can't find EId with tickerId:{req_id}"))

    def push_quote(self, key: str) -> None:
        quote = self.book.quotes.get(key)
        if quote is None:
            return
        underlying = self.book.quotes.get("SPY")
        for req_id, subscribed in self.market_data.items():
            if subscribed != key:
                continue
            self._tick(req_id, enc.TICK_BID, quote.bid)
            self._tick(req_id, enc.TICK_ASK, quote.ask)
            if quote.last is not None:
                self._tick(req_id, enc.TICK_LAST, quote.last)
            if quote.implied_vol is not None and key != "SPY":
                self.send(enc.tick_option_computation(req_id, quote.implied_vol, (quote.bid + quote.ask) / 2,
                                                      underlying.last or underlying.bid if underlying else -1))

    def _tick(self, req_id: int, tick_type: int, price: float) -> None:
        delayed = self.data_types.get(req_id, 1) in DELAYED_TYPES
        self.send(enc.tick_price(req_id, enc.DELAYED_TICKS[tick_type] if delayed else tick_type, price))

    def _place_order(self, fields: list[str]) -> None:
        order_id = int(fields[1])
        contract = self.book.find_contract(*_contract_args(fields, CONTRACT_AT["placeOrder"]))
        if contract is None:
            self.send(enc.error(order_id, 200, "No security definition has been found for the request"))
            return
        action, quantity, order_type, limit, aux, tif = fields[16:22]
        account, order_ref = fields[23], fields[26]
        self.book.place(self.client_id or 0, order_id, contract, action, int(float(quantity)), order_type,
                        _price(limit), _price(aux), tif, account, order_ref)
