"""IBBroker: the Broker interface on ib_async, talking to IB Gateway or TWS.

Threads: ib_async runs on one event loop in a thread this object owns (``LoopThread``); every
public method may be called from any thread and hops onto that loop with a timeout. Events (order
states, executions, connection changes, write access) are delivered on the loop thread: receivers
must hand them on to their actor (``tell``), not work in place.

Orders never make the caller wait on IB: placing, modifying and cancelling check what they can at
once (connected, ours to change, the last guard) and queue the send on the loop (outbox.py), paced
there under IB's 50 messages a second; IB's answers arrive as events. Reads are made one at a time
(ib_async keeps one pending request per kind) and paced from the same bucket; ib_async's own
sliding-window throttle is set to the same rate as a floor under messages it sends by itself.

Order truth (order_tracker.py): what filled comes from executions, when an order ended from IB (its
status, or its absence from IB's open orders), never from ib_async's own inference after an error.

Connection life: after a drop the gateway reconnects with backoff and jitter, and after every
(re)connect reconciles in a fixed order: open orders (ours, by orderRef, are adopted, never sent
again; TWS orders are bound when running as client id 0), then executions (fills missed while
away), then positions, then a what-if order to learn whether IB takes orders at all (Read-Only API).
While it is not connected no order is sent: calls raise BrokerUnavailable, and orders in flight are
reported UNKNOWN, never REJECTED.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from ib_async import IB, Contract, ExecutionFilter, Trade
from ib_async import Position as IBPosition
from ib_async.ib import StartupFetchNONE

from config.schema import Settings
from domain.clock import Clock
from domain.model import Execution, OptionContract, Position, Side, StockPosition, WorkingOrder
from domain.order_refs import is_cleanup_ref
from gateways.broker import (
    BrokerError,
    BrokerEvent,
    ComboRequest,
    LapseResult,
    OrderRequest,
    StockOrderRequest,
    StockOrderState,
)
from gateways.ib import codes, mapping
from gateways.ib.errors import not_connected, not_reconciled, outcome_unknown, unreachable
from gateways.ib.lapse import send_lapse
from gateways.ib.loop_thread import LoopThread, LoopTimeout
from gateways.ib.order_desk import OrderDesk
from gateways.ib.order_tracker import OrderTracker
from gateways.ib.outbox import Outbox
from gateways.ib.reconnect import ReconnectPolicy
from gateways.ib.stock_orders import StockOrders
from gateways.ib.token_bucket import MessageCounter, TokenBucket
from gateways.ib.write_access import probe_write_access
from gateways.ports import Connectivity

log = logging.getLogger(__name__)
T = TypeVar("T")

ConnectionHandler = Callable[[Connectivity, str], None]
WriteAccessHandler = Callable[[bool, str], None]
# Checking and queueing an order on the loop takes microseconds; a loop this late may never run it.
QUEUE_TIMEOUT_SECONDS = 2.0
WRITE_ACCESS_PROBE_SECONDS = 60.0


@dataclass(frozen=True)
class Reconciliation:
    """The result of the sync after a (re)connect, in the order it was done."""

    adopted: tuple[WorkingOrder, ...]
    executions: int
    positions: tuple[Position, ...]


class IBBroker:
    def __init__(self, settings: Settings, clock: Clock, *, request_timeout: float = 10.0,
                 connect_timeout: float = 5.0, reconnect: ReconnectPolicy | None = None,
                 bucket: TokenBucket | None = None) -> None:
        self._host, self._port = settings.ib_host, settings.ib_port
        self._client_id = settings.ib_client_id
        self._configured_account = settings.ib_account
        self._clock = clock
        self._request_timeout = request_timeout
        self._connect_timeout = connect_timeout
        self._reconnect_policy = reconnect or ReconnectPolicy()
        self._bucket = bucket or TokenBucket.under_ib_limit(settings.ib_messages_per_second)
        self._rate = int(self._bucket.rate)
        self._counter = MessageCounter()
        self._loop = LoopThread()
        self._ib: IB | None = None
        self._account = ""
        self._state = Connectivity.CLOSED
        self._connected_at: datetime | None = None
        self._want_connected = False
        self._reconnecting = False
        self._symbol = settings.symbol
        self._tracker = OrderTracker(self._client_id, clock)
        self._tracker.read_only = lambda message: self._read_only(
            f"IB Gateway at {self.address} refused an order: its API is read-only ({message})")
        self._outbox = Outbox(self._bucket)
        self._read_lock: asyncio.Lock | None = None  # created on the loop
        self._desk = OrderDesk(self, self._tracker, self._outbox, self._read, self._client_id, self.account)
        self._stock_desk = StockOrders(self, self._outbox, self._client_id, self.account)
        self._last_read: dict[str, int] = {}  # contract key -> position at the last read, for the last guard
        self._writable: bool | None = None
        self._qualified: dict[str, OptionContract] = {}
        self._by_con_id: dict[int, OptionContract] = {}  # for the legs of combo orders IB lists by conId
        self._connection_handler: ConnectionHandler = lambda state, message: None
        self._write_access_handler: WriteAccessHandler = lambda writable, message: None
        self.last_reconciliation: Reconciliation | None = None
        # Market-data generation: bumped on every connect and on IB's "data lost" (1101); market data
        # subscribed in an older generation is gone at IB and must be requested again (prices.py).
        self.session = 0

    # --- handlers ------------------------------------------------------------------------------

    def set_event_handler(self, handler: Callable[[BrokerEvent], None]) -> None:
        self._tracker.handler = handler

    def set_connection_handler(self, handler: ConnectionHandler) -> None:
        """Called with the new state and a one-line reason on every change (for status and alerts)."""
        self._connection_handler = handler

    def set_write_access_handler(self, handler: WriteAccessHandler) -> None:
        """Called with False (and one line) when IB refuses orders from this client: its API is read-only;
        with True when a connection's what-if order was taken again after that."""
        self._write_access_handler = handler

    # --- connection ----------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{self._host}:{self._port}"

    def connect(self) -> None:
        """Connect and reconcile once; raises BrokerError (one line) when IB Gateway is not reachable."""
        if self.is_connected():
            return
        self._loop.start()
        self._want_connected = True
        try:
            self._loop.run(self._connect_and_reconcile, self._connect_timeout + 6 * self._request_timeout)
        except LoopTimeout as error:
            self._want_connected = False
            self._loop.call_soon(self._drop_ib)  # the cancelled attempt may have left the socket up
            raise unreachable(self._host, self._port, TimeoutError(), self._client_id, self._connect_timeout) \
                from error
        except BaseException:
            self._want_connected = False  # _connect_and_reconcile already dropped the socket
            raise

    def connect_in_background(self) -> None:
        """Keep trying to connect (backoff and jitter) without blocking; progress goes to the connection
        handler. For a service started before IB Gateway, e.g. across the gateway's nightly restart."""
        self._loop.start()
        self._want_connected = True
        self._set_state(Connectivity.DISCONNECTED, f"connecting to IB Gateway at {self.address}")
        self._loop.call_soon(lambda: self._start_reconnecting())

    def _start_reconnecting(self) -> None:
        if self._want_connected and not self._reconnecting:
            asyncio.get_running_loop().create_task(self._reconnect_forever())

    def disconnect(self) -> None:
        self._want_connected = False
        if not self._loop.running:
            return
        try:
            self._loop.run(self._close, self._request_timeout)
        finally:
            self._loop.stop()

    def is_connected(self) -> bool:
        return self._state is Connectivity.CONNECTED

    def connected_since(self) -> datetime | None:
        return self._connected_at if self.is_connected() else None

    def connection_state(self) -> Connectivity:
        return self._state

    def account(self) -> str:
        return self._account

    def messages_sent(self) -> int:
        return self._counter.count

    async def _connect_and_reconcile(self) -> None:
        ib = self._ib or self._new_ib()
        try:
            await ib.connectAsync(self._host, self._port, self._client_id, timeout=self._connect_timeout,
                                  account=self._configured_account, fetchFields=StartupFetchNONE)
        except BaseException as error:
            ib.disconnect()
            raise unreachable(self._host, self._port, error, self._client_id, self._connect_timeout) from error
        try:
            self._account = self._pick_account(ib.client.getAccounts())
            self.session += 1
            await self._reconcile()
        except Exception as error:
            # A half-made connection is not one: never leave the socket up without a reconciliation.
            ib.disconnect()
            raise not_reconciled(self._host, self._port, error, self._request_timeout) from error
        self._set_state(Connectivity.CONNECTED, f"connected to IB Gateway at {self.address}, "
                                                f"account {self._account}")

    def _new_ib(self) -> IB:
        ib = IB()
        # IB sends some times (executions below server version 200) as YYYYMMDD-HH:MM:SS without a zone, in
        # UTC; ib_async 2.1.0 reads such a time in the host's zone (ib_async issue #230). Times with a zone
        # are unaffected. The Book compares execution times with its reads: hours off would be dangerous.
        ib.TimezoneTWS = "UTC"
        ib.client.MaxRequests = self._rate  # ib_async's sliding one-second window, under IB's limit
        send = ib.client.conn.sendMsg

        def counting_send(message: bytes) -> None:
            self._counter.add()
            send(message)

        ib.client.conn.sendMsg = counting_send  # type: ignore[method-assign]
        ib.orderStatusEvent += self._tracker.on_order_status
        ib.execDetailsEvent += self._tracker.on_execution
        ib.commissionReportEvent += self._tracker.on_commission
        ib.errorEvent += self._on_error
        ib.disconnectedEvent += self._on_disconnected
        self._ib = ib
        return ib

    def _pick_account(self, accounts: list[str]) -> str:
        if self._configured_account:
            if self._configured_account not in accounts:
                raise BrokerError(f"IB account {self._configured_account} is not managed by this login "
                                  f"(accounts: {', '.join(accounts) or 'none'}): check ib_account")
            return self._configured_account
        if len(accounts) != 1:
            raise BrokerError(f"IB login manages several accounts ({', '.join(accounts)}): set ib_account")
        return accounts[0]

    async def _close(self) -> None:
        self._set_state(Connectivity.CLOSED, "disconnected on request")
        if self._ib is not None:
            self._ib.disconnect()
            self._ib = None  # bound to this loop; the next connect() builds a new one

    def _drop_ib(self) -> None:
        if self._ib is not None:
            self._ib.disconnect()

    def _set_state(self, state: Connectivity, message: str) -> None:
        if state is self._state:
            return
        self._state = state
        self._connected_at = self._clock.now() if state is Connectivity.CONNECTED else None
        log.info("IB connection %s: %s", state, message)
        self._connection_handler(state, message)

    def _on_disconnected(self) -> None:
        if self._state not in (Connectivity.CONNECTED, Connectivity.LOST):
            return  # a failed attempt, or our own disconnect()
        self._set_state(Connectivity.DISCONNECTED, f"lost the API connection to IB Gateway at {self.address}")
        self._tracker.connection_lost()
        self._start_reconnecting()

    async def _reconnect_forever(self) -> None:
        self._reconnecting = True
        try:
            async for attempt in self._reconnect_policy.retrying():
                with attempt:
                    if not self._want_connected:
                        return
                    await self._connect_and_reconcile()
        except Exception as error:  # only when retrying gives up, which the policy never does
            log.error("IB reconnect abandoned: %s", error)
        finally:
            self._reconnecting = False

    def _on_error(self, req_id: int, code: int, message: str, contract: Contract | None) -> None:
        if req_id != -1:
            return
        if code in codes.SERVER_LINK_WARNINGS:
            log.warning("IB code %d: %s (IB Gateway keeps the API connection; orders still go out)", code, message)
            return
        state = codes.CONNECTIVITY_CODES.get(code)
        if state is None:
            return
        if code in codes.DATA_LOST_CODES:
            self.session += 1  # IB dropped every market-data subscription: prices.py subscribes again
        if state is Connectivity.CONNECTED:
            # Restored: orders may have changed while IB was away, so settle them before trading again.
            asyncio.get_running_loop().create_task(self._restored(code, message))
        else:
            self._set_state(state, f"IB code {code}: {message}")

    async def _restored(self, code: int, message: str) -> None:
        try:
            await self._reconcile()
        except (TimeoutError, ConnectionError, BrokerError) as error:
            # Still LOST: the next 1101/1102, or the reconnect loop after a drop, settles it.
            log.warning("reconcile after IB code %d failed, connection left %s: %s", code, self._state, error)
            return
        if self._state in (Connectivity.LOST, Connectivity.CONNECTED):  # a drop meanwhile: the reconnect owns it
            self._set_state(Connectivity.CONNECTED, f"IB code {code}: {message}")

    # --- reconciliation --------------------------------------------------------------------------

    async def _reconcile(self) -> Reconciliation:
        """After every (re)connect: orders (ours adopted; TWS orders bound when we are client 0), then fills,
        then positions, then whether IB takes orders at all."""
        ib = self.connected_ib()
        if self._client_id == 0:
            # Only client 0 may bind orders placed by hand in TWS, which then get an order id it can modify
            # (reqOpenOrders binds those open now, reqAutoOpenOrders those placed later).
            await self._read(ib.reqOpenOrdersAsync)
            ib.reqAutoOpenOrders(True)
        open_trades = await self._read(ib.reqAllOpenOrdersAsync)
        adopted = []
        open_ids = set()
        for trade in open_trades:
            if trade.order.clientId != self._client_id:
                continue
            open_ids.add(trade.order.orderId)
            if is_cleanup_ref(trade.order.orderRef) and mapping.is_option(trade.contract):
                self._tracker.report(trade)
                adopted.append(mapping.to_working_order(trade, self._client_id))
            elif is_cleanup_ref(trade.order.orderRef) and mapping.is_combo(trade.contract):
                legs = await self._combo_legs(trade)
                self._tracker.report(trade, legs)
                adopted.extend(mapping.combo_working_orders(trade, legs, self._client_id))
        fills = await self._read(lambda: ib.reqExecutionsAsync(ExecutionFilter(clientId=self._client_id)))
        executions = self._tracker.executions(fills)
        self._tracker.settle_vanished(open_ids, fills)
        for execution in executions:
            self._tracker.handler(execution)
        positions = self._to_positions(await self._read(ib.reqPositionsAsync))
        await self._probe_write_access()
        if self._writable is False:
            asyncio.get_running_loop().create_task(self._probe_until_writable(ib))
        result = Reconciliation(tuple(adopted), len(fills), tuple(positions))
        self.last_reconciliation = result
        log.info("IB reconciled: %d order(s) adopted, %d execution(s), %d position(s), orders %s",
                 len(result.adopted), result.executions, len(result.positions),
                 {True: "accepted", False: "REFUSED (read-only API)", None: "not confirmed"}[self._writable])
        return result

    async def _read(self, request: Callable[[], Awaitable[Any]], messages: int = 1) -> Any:
        """One request at a time: ib_async keeps one pending request per kind (positions, open orders), so two
        at once would answer one of them with the other's result, or never."""
        if self._read_lock is None:
            self._read_lock = asyncio.Lock()
        async with self._read_lock:
            await self._outbox.pace(messages)
            return await asyncio.wait_for(request(), self._request_timeout)

    async def _probe_write_access(self) -> None:
        was_writable = self._writable
        self._writable = await probe_write_access(self.connected_ib(), self._symbol, self._account,
                                                  self._request_timeout)
        if self._writable is False:
            self._read_only(f"IB Gateway at {self.address} refused a what-if order: its API is read-only", was_writable)
        elif self._writable and was_writable is False:
            self._write_access_handler(True, f"IB Gateway at {self.address} takes orders again")

    async def _probe_until_writable(self, ib: IB) -> None:
        """Unticking Read-Only API in IB Gateway drops no connection: ask again, once a minute, until it is off."""
        while self._writable is False and self._ib is ib and ib.isConnected():
            await asyncio.sleep(WRITE_ACCESS_PROBE_SECONDS)
            if self._ib is ib and ib.isConnected():
                await self._probe_write_access()

    def _read_only(self, message: str, was_writable: bool | None = None) -> None:
        """IB refused an order because its API is read-only: said once until write access comes back."""
        before = self._writable if was_writable is None else was_writable
        self._writable = False
        if before is not False:
            log.critical("%s", message)
            self._write_access_handler(False, message)

    def write_access(self) -> bool | None:
        return self._writable if self.is_connected() else None

    # --- reads ---------------------------------------------------------------------------------

    def positions(self) -> Sequence[Position]:
        async def read() -> list[Position]:
            return self._to_positions(await self._read(self.connected_ib().reqPositionsAsync))

        return self.run_paced(read, "positions not read")

    def _to_positions(self, items: list) -> list[Position]:
        positions = [mapping.from_ib_position(p) for p in self._held(items) if mapping.is_option(p.contract)]
        self._by_con_id.update({p.contract.con_id: p.contract for p in positions if p.contract.con_id})
        self._last_read = {p.contract.key: p.quantity for p in positions}  # for the last guard
        return positions

    def _held(self, items: list[IBPosition]) -> list[IBPosition]:
        return [p for p in items if p.account == self._account and p.position]

    def stock_positions(self) -> Sequence[StockPosition]:
        async def read() -> list[StockPosition]:
            items = await self._read(self.connected_ib().reqPositionsAsync)
            stock = [mapping.from_ib_stock(p) for p in self._held(items) if mapping.is_stock(p.contract)]
            self._stock_desk.last_read = {s.symbol: s.shares for s in stock}  # for the stock orders' last guard
            return stock

        return self.run_paced(read, "positions not read")

    def other_positions(self) -> Sequence[IBPosition]:
        """What the account holds besides options (shares an exercise or assignment left), as IB reports
        it: for the operator (`run --check`); the service trades options only."""
        async def read() -> list[IBPosition]:
            items = await self._read(self.connected_ib().reqPositionsAsync)
            return [p for p in self._held(items) if not mapping.is_option(p.contract)]

        return self.run_paced(read, "positions not read")

    def working_orders(self) -> Sequence[WorkingOrder]:
        async def read() -> list[WorkingOrder]:
            trades = [t for t in await self._read(self.connected_ib().reqAllOpenOrdersAsync)
                      if t.orderStatus.status in codes.WORKING_STATES and t.order.account in ("", self._account)]
            orders = []
            for t in trades:
                if mapping.is_option(t.contract):
                    orders.append(mapping.to_working_order(t, self._client_id))
                elif mapping.is_combo(t.contract) and t.contract.comboLegs:
                    # One WorkingOrder per leg, so each position counts what the combo may still close of it.
                    orders.extend(mapping.combo_working_orders(t, await self._combo_legs(t), self._client_id))
            return orders

        return self.run_paced(read, "working orders not read")

    def executions(self) -> Sequence[Execution]:
        async def read() -> list[Execution]:
            ib = self.connected_ib()
            fills = await self._read(lambda: ib.reqExecutionsAsync(ExecutionFilter(clientId=self._client_id)))
            return self._tracker.executions(fills)

        return self.run_paced(read, "executions not read")

    # --- orders --------------------------------------------------------------------------------

    async def qualify_async(self, contract: OptionContract) -> OptionContract:
        """The contract with IB's conId filled in (one request the first time, cached after)."""
        known = contract if contract.con_id else self._qualified.get(contract.key)
        if known is not None:
            return known
        ib = self.connected_ib()
        details = await self._read(lambda: ib.reqContractDetailsAsync(mapping.to_ib_option(contract)))
        if len(details) != 1 or details[0].contract is None:
            raise BrokerError(f"IB does not know one contract {contract.key} ({len(details)} matches)")
        qualified = mapping.from_ib_option(details[0].contract)
        self._qualified[contract.key] = qualified
        if qualified.con_id:
            self._by_con_id[qualified.con_id] = qualified
        return qualified

    async def _combo_legs(self, trade: Trade) -> tuple[mapping.Leg, ...]:
        """The legs of a BAG order as IB lists them (by conId, each with its action and ratio), as options: from
        the contracts this gateway qualified or read, else one contract-details request per unknown leg."""
        legs = []
        for leg in trade.contract.comboLegs or []:
            contract = self._by_con_id.get(leg.conId)
            if contract is None:
                details = await self._read(functools.partial(self.connected_ib().reqContractDetailsAsync,
                                                             Contract(conId=leg.conId)))
                if len(details) != 1 or details[0].contract is None or not mapping.is_option(details[0].contract):
                    raise BrokerError(f"IB does not know the option with conId {leg.conId}, a leg of combo order "
                                      f"{trade.order.orderId}")
                contract = mapping.from_ib_option(details[0].contract)
                self._by_con_id[leg.conId] = contract
            legs.append(mapping.Leg(contract, Side(leg.action), int(leg.ratio)))
        return tuple(legs)

    def place_order(self, request: OrderRequest) -> str:
        return self._desk.place(request)

    def place_combo(self, request: ComboRequest) -> str:
        return self._desk.place_combo(request)

    def place_stock_order(self, request: StockOrderRequest) -> str:
        return self._stock_desk.place(request)

    def modify_stock_order(self, order_id: str, limit_price: float | None) -> None:
        self._stock_desk.modify(order_id, limit_price)

    def stock_orders(self) -> Sequence[StockOrderState]:
        return self._stock_desk.states()

    def modify_limit(self, order_id: str, limit_price: float) -> None:
        self._desk.modify_limit(order_id, limit_price)

    def modify_to_market(self, order: WorkingOrder) -> None:
        self._desk.modify_to_market(order.order_id)

    def cancel(self, order_id: str) -> None:
        self._desk.cancel(order_id)

    def lapse(self, contract: OptionContract, quantity: int) -> LapseResult:
        return self.run_paced(lambda: send_lapse(self, contract, quantity), f"lapse of {quantity} {contract.key}",
                              messages=2)

    # --- plumbing ------------------------------------------------------------------------------

    def connected_ib(self) -> IB:
        """The live ib_async client, for the gateways.ib modules' work on the loop thread."""
        if self._ib is None or not self._ib.isConnected():
            raise not_connected(self._host, self._port, "request not sent")
        return self._ib

    def link_up(self) -> bool:
        """Connected and reconciled, with IB Gateway's own link to IB up: orders may go out."""
        return self._ib is not None and self._ib.isConnected() and self._state is Connectivity.CONNECTED

    def last_read(self, contract: OptionContract) -> int:
        """The position in ``contract`` at this gateway's last read (loop thread), for the last guard."""
        return self._last_read.get(contract.key, 0)

    def run_paced(self, work: Callable[[], Any], what: str, messages: int = 0) -> Any:
        """Pace ``messages`` tokens, then run ``work`` on the loop thread and return its result (reads made
        through ``_read`` pace themselves on the loop).

        For requests that change nothing at IB (reads, market data; the gateways.ib modules use it too):
        every failure becomes one BrokerError line naming ``what``; BrokerUnavailable when not connected."""
        if not self.is_connected():
            raise not_connected(self._host, self._port, what)
        self._bucket.take(messages)
        try:
            return self._loop.run(work, self._request_timeout + 1)
        except BrokerError:
            raise
        except (LoopTimeout, TimeoutError) as error:
            raise BrokerError(f"IB Gateway at {self.address} did not answer within "
                              f"{self._request_timeout:g}s; {what}") from error
        except ConnectionError as error:
            raise not_connected(self._host, self._port, what) from error

    def queue(self, queue: Callable[[], T], what: str) -> T:
        """Run ``queue`` (which only checks and queues, on the loop thread) and return its result.

        Raises BrokerUnavailable when nothing was queued (not connected). A loop that did not run ``queue``
        in time may still run it: that outcome is unknown, never a failure of the order."""
        if not self.is_connected():
            raise not_connected(self._host, self._port, f"{what} not sent")
        try:
            return self._loop.run(queue, QUEUE_TIMEOUT_SECONDS)
        except BrokerError:
            raise
        except LoopTimeout as error:
            raise outcome_unknown(self._host, self._port, what, QUEUE_TIMEOUT_SECONDS) from error
        except ConnectionError as error:
            raise not_connected(self._host, self._port, f"{what} not sent") from error
