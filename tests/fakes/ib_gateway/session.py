"""One API client connection to the fake gateway: handshake, then request -> reply dispatch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from tests.fakes.ib_gateway import codes, requests
from tests.fakes.ib_gateway import encoders as enc
from tests.fakes.ib_gateway.contracts import FakeContract
from tests.fakes.ib_gateway.market_data import MarketDataLines
from tests.fakes.ib_gateway.rate_limit import MessageRateLimit
from tests.fakes.ib_gateway.requests import CONTRACT_AT, ContractArgs
from tests.fakes.ib_gateway.script import FakeComboLeg
from tests.fakes.ib_gateway.wire import FrameReader, frame, parse_version_range

if TYPE_CHECKING:
    from tests.fakes.ib_gateway.server import FakeIBGateway


class Session(asyncio.Protocol):
    def __init__(self, gateway: FakeIBGateway, number: int) -> None:
        self.gateway = gateway
        self.script = gateway.script
        self.book = gateway.book
        self.desk = gateway.desk
        self.number = number
        self.client_id: int | None = None
        self.transport: asyncio.Transport | None = None
        self.reader = FrameReader()
        self.handshaken = False
        self.wants_positions = False
        self.auto_bind = False  # client 0 after reqAutoOpenOrders(True)
        self.market_data = MarketDataLines(self.script.market_data_errors, self.script.market_data_types)
        limit = self.script.max_messages_per_second
        self.rate_limit = MessageRateLimit(limit) if limit else None
        self.handlers: dict[str, Callable[[list[str]], None]] = {
            "startApi": self._start_api, "reqPositions": self._positions, "cancelPositions": self._no_positions,
            "reqOpenOrders": self._open_orders, "reqAllOpenOrders": self._all_open_orders,
            "reqAutoOpenOrders": self._auto_open_orders,
            "reqCompletedOrders": lambda f: self.send(enc.completed_orders_end()),
            "reqExecutions": lambda f: self.send_all(self.book.execution_messages(requests.execution_filter(f))),
            "reqAccountUpdates": self._account_updates,
            "reqAccountUpdatesMulti": lambda f: self.send(enc.account_update_multi_end(int(f[2]))),
            "reqAccountSummary": self._account_summary, "reqContractDetails": self._contract_details,
            "reqMarketDataType": self._market_data_type, "reqMktData": self._market_data,
            "cancelMktData": self._cancel_market_data,
            "placeOrder": self._place_order, "exerciseOptions": self._exercise_options,
            "cancelOrder": lambda f: self.desk.cancel(self.client_id or 0, int(f[2])),
            "reqIds": lambda f: self.send(enc.next_valid_id(self.desk.next_order_id)),
            "reqCurrentTime": lambda f: self.send(enc.current_time(int(self.book.clock()))),
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

    def send_all(self, messages: list[list[object]]) -> None:
        for fields in messages:
            self.send(fields)

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
            self.send(enc.handshake_reply(time.strftime("%Y%m%d %H:%M:%S UTC", time.gmtime(self.book.clock()))))
            return
        name = enc.REQUEST_NAMES.get(int(fields[0]), f"msg{fields[0]}")
        if not self._within_rate(name, fields):
            return
        self.gateway.record(self, name, fields)
        handler = self.handlers.get(name)
        if handler is not None and name not in self.script.unanswered:
            handler(fields)
        if name != "placeOrder" or not requests.place_order(fields).what_if:  # a what-if places nothing
            self.gateway.after_message(self, name)

    def _within_rate(self, name: str, fields: list[str]) -> bool:
        """IB's message rate limit: a message over it is answered with error 100 and dropped."""
        if self.rate_limit is None:
            return True
        verdict = self.rate_limit.check(time.monotonic())
        if verdict.admitted:
            return True
        self.gateway.record(self, name, fields, dropped=True)
        self.send(enc.error(-1, codes.MAX_MESSAGE_RATE,
                            codes.max_message_rate(self.rate_limit.limit, verdict.received_in_second)))
        disconnect_after = self.script.rate_limit_disconnect_after
        if disconnect_after is not None and self.rate_limit.violations == disconnect_after:
            self.gateway.close_soon(self)
        return False

    def _start_api(self, fields: list[str]) -> None:
        self.client_id = int(fields[2])
        self.send(enc.next_valid_id(self.desk.next_order_id))
        self.send(enc.managed_accounts([self.book.account]))
        for code in self.script.codes_on_connect:
            self.send(enc.connectivity(code))

    def _positions(self, fields: list[str]) -> None:
        self.wants_positions = True
        self.send_all(self.book.position_messages())

    def _no_positions(self, fields: list[str]) -> None:
        self.wants_positions = False

    def _open_orders(self, fields: list[str], everyone: bool = False) -> None:
        if self.client_id == 0 and not everyone and not self.script.read_only:
            self.desk.bind_tws_orders()  # reqOpenOrders from client 0 binds TWS orders; reqAllOpenOrders never
        for order in self.desk.orders.values():
            if order.is_working and (everyone or order.client_id == self.client_id):
                self.send_all(enc.order_snapshot(order))
        self.send(enc.open_order_end())

    def _all_open_orders(self, fields: list[str]) -> None:
        self._open_orders(fields, everyone=True)

    def _auto_open_orders(self, fields: list[str]) -> None:
        if self.client_id != 0:
            self.send(enc.error(-1, codes.AUTO_BIND_NOT_CLIENT_ZERO, codes.text(codes.AUTO_BIND_NOT_CLIENT_ZERO)))
        elif self.script.read_only:
            self.send(enc.error(codes.NO_REQUEST_ID, codes.READ_ONLY, codes.read_only("bY")))
        else:
            self.auto_bind = fields[2] == "1"

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
        contract = self.book.instruments.find(ContractArgs.at(fields, CONTRACT_AT["reqContractDetails"]))
        if contract is None:
            self.send(enc.error(req_id, codes.NO_SECURITY_DEFINITION, codes.text(codes.NO_SECURITY_DEFINITION)))
            return
        self.send(enc.contract_details(req_id, contract))
        self.send(enc.contract_details_end(req_id))

    def _market_data_type(self, fields: list[str]) -> None:
        self.market_data.requested_type = int(fields[2])

    def _market_data(self, fields: list[str]) -> None:
        req_id = int(fields[2])
        contract = self.book.instruments.find(ContractArgs.at(fields, CONTRACT_AT["reqMktData"]))
        if contract is None:
            self.send(enc.error(req_id, codes.NO_SECURITY_DEFINITION, codes.text(codes.NO_SECURITY_DEFINITION)))
            return
        self.send_all(self.market_data.subscribe(req_id, contract.key))
        self.push_quote(contract.key)

    def _cancel_market_data(self, fields: list[str]) -> None:
        req_id = int(fields[2])
        if not self.market_data.cancel(req_id):
            self.send(enc.error(req_id, codes.NO_SUCH_TICKER, codes.text(codes.NO_SUCH_TICKER).format(req_id=req_id)))

    def push_quote(self, key: str) -> None:
        quote = self.book.quotes.get(key)
        if quote is None:
            return
        contract = self.book.instruments.by_key(key)
        self.send_all(self.market_data.ticks(key, quote, self.book.underlying_price(contract),
                                             contract.sec_type == "OPT"))

    def _exercise_options(self, fields: list[str]) -> None:
        """IB answers a lapse or exercise instruction only when it refuses it (error on the request id)."""
        request = requests.exercise_options(fields)
        contract = self.book.instruments.find(request.contract)
        held = self.gateway.true_position(contract.key) if contract else 0
        cutoff = self.script.lapse_cutoff
        cause = ""
        if self.script.read_only:
            cause = "The API interface is currently in Read-Only mode."
        elif request.exchange == "SMART":
            cause = "Invalid exchange SMART for an exercise instruction"
        elif contract is None:
            cause = "No security definition has been found for the request"
        elif cutoff is not None and self.book.clock() >= cutoff:
            cause = "The deadline for exercise and lapse instructions has passed"
        elif held < request.quantity:
            cause = "Exercise or lapse quantity exceeds the long position"
        if cause:
            self.send(enc.error(request.req_id, codes.READ_ONLY, codes.exercise_refused(cause)))
            return
        self.gateway.lapses.append(request)

    def _place_order(self, fields: list[str]) -> None:
        request = requests.place_order(fields)
        if request.contract.sec_type == "BAG":
            self._place_combo(request)
            return
        contract = self.book.instruments.find(request.contract)
        if contract is None:
            self.send(enc.error(request.order_id, codes.NO_SECURITY_DEFINITION,
                                codes.text(codes.NO_SECURITY_DEFINITION)))
            return
        self.desk.place(self.client_id or 0, request, contract)

    def _place_combo(self, request: requests.PlaceOrderRequest) -> None:
        """A BAG order: each leg named by its conId (IB knows the legs by conId only), else 200 as for a contract."""
        legs = []
        for leg in request.combo_legs:
            contract = self.book.instruments.contracts.get(leg.con_id)
            if contract is None or contract.sec_type != "OPT" or leg.ratio <= 0:
                self.send(enc.error(request.order_id, codes.NO_SECURITY_DEFINITION,
                                    codes.text(codes.NO_SECURITY_DEFINITION)))
                return
            legs.append(FakeComboLeg(contract, leg.ratio, leg.action))
        self.desk.place(self.client_id or 0, request, FakeContract.bag(request.contract.symbol), legs)
