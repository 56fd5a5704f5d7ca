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
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ib_async import IB, Contract, ExecutionFilter, Order, Trade
from ib_async.ib import StartupFetchNONE
from ib_async.util import UNSET_DOUBLE

from config.settings import Settings
from domain.book import over_close
from domain.model import Execution, OptionContract, Position, WorkingOrder
from domain.order_refs import is_cleanup_ref
from gateways.broker import BrokerError, BrokerEvent, OrderRefused, OrderRequest
from gateways.ib import codes, mapping
from gateways.ib.codes import Connectivity
from gateways.ib.errors import not_connected, not_our_order, not_reconciled, outcome_unknown, unreachable
from gateways.ib.loop_thread import LoopThread, LoopTimeout
from gateways.ib.order_tracker import OrderTracker
from gateways.ib.outbox import Outbox
from gateways.ib.reconnect import ReconnectPolicy
from gateways.ib.token_bucket import MessageCounter, TokenBucket
from gateways.ib.write_access import probe_write_access
from runtime.clock import Clock

log = logging.getLogger(__name__)

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
        self._tracker.verify = self._verify
        self._tracker.read_only = lambda message: self._read_only(
            f"IB Gateway at {self.address} refused an order: its API is read-only ({message})")
        self._outbox = Outbox(self._bucket)
        self._read_lock: asyncio.Lock | None = None  # created on the loop
        self._to_verify: set[int] = set()
        self._last_read: dict[str, int] = {}  # contract key -> position at the last read, for the last guard
        self._writable: bool | None = None
        self._qualified: dict[str, OptionContract] = {}
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
        positions = [mapping.from_ib_position(p) for p in items
                     if p.account == self._account and mapping.is_option(p.contract) and p.position]
        self._last_read = {p.contract.key: p.quantity for p in positions}  # for the last guard
        return positions

    def working_orders(self) -> Sequence[WorkingOrder]:
        async def read() -> list[WorkingOrder]:
            trades = await self._read(self.connected_ib().reqAllOpenOrdersAsync)
            return [mapping.to_working_order(t, self._client_id) for t in trades
                    if mapping.is_option(t.contract) and t.orderStatus.status in codes.WORKING_STATES
                    and t.order.account in ("", self._account)]

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
        return qualified

    def place_order(self, request: OrderRequest) -> str:
        """Queue the order (the last guard first) and return its id at once; IB's answer arrives as events."""
        if request.quantity <= 0:
            raise BrokerError(f"order quantity must be positive, got {request.quantity}")

        def queue() -> str:
            ib = self.connected_ib()
            self._guard(request)
            order = mapping.to_ib_order(request, self._account)
            order.orderId = ib.client.getReqId()
            self._tracker.placed(order.orderId, request.contract, request.side, request.quantity, request.order_ref)
            self._outbox.submit(lambda: self._send_new(order, request))
            return str(order.orderId)

        return self._queue(queue, f"place {request.order_ref}")

    def _guard(self, request: OrderRequest) -> None:
        """The last guard (loop thread), on this gateway's own memory: its last read of the position and what
        the orders it tracks may still fill, ib_async's inferences aside."""
        working = self._tracker.working(request.contract, request.side)
        why = over_close(request.side, request.quantity, request.position,
                         self._last_read.get(request.contract.key, 0), working)
        if why:
            raise OrderRefused(f"{request.order_ref} for {request.contract.key} not sent: {why}")

    async def _send_new(self, order: Order, request: OrderRequest) -> None:
        order_id = order.orderId
        try:
            contract = await self.qualify_async(request.contract)
        except (BrokerError, TimeoutError, ConnectionError) as error:
            if not self._link_up():
                self._tracker.not_sent(order_id, f"not connected to IB Gateway at {self.address}")
            else:
                self._tracker.refused_before_sending(order_id, f"{request.contract.key}: {error}")
            return
        await self._outbox.pace()
        if not self._link_up():
            self._tracker.not_sent(order_id, f"not connected to IB Gateway at {self.address}; nothing sent")
            return
        self.connected_ib().placeOrder(mapping.to_ib_option(contract), order)

    def modify_limit(self, order_id: str, limit_price: float) -> None:
        def modify(trade: Trade) -> None:
            trade.order.orderType = "LMT"
            trade.order.lmtPrice = limit_price

        self._change(order_id, "modify", modify)

    def modify_to_market(self, order: WorkingOrder) -> None:
        def to_market(trade: Trade) -> None:
            trade.order.orderType = "MKT"
            for name in ("lmtPrice", "auxPrice", "trailStopPrice", "trailingPercent", "lmtPriceOffset"):
                setattr(trade.order, name, UNSET_DOUBLE)

        self._change(order.order_id, "convert to market", to_market)

    def cancel(self, order_id: str) -> None:
        self._change(order_id, "cancel", None)

    def _change(self, order_id: str, what: str, change: Callable[[Trade], None] | None) -> None:
        """Queue a change to one of this client's orders (``change`` None: cancel it). Refused at once when IB
        would never take it from this client; IB's own refusal of it arrives later as an event."""
        if int(order_id) == 0:
            # A TWS order no API client is bound to: ib_async's placeOrder would give it a new id, i.e. send a
            # second, new order while the original keeps working.
            raise not_our_order(order_id)

        def queue() -> None:
            trade = self._own_trade(int(order_id))
            tracked = self._tracker.track(trade)
            if change is None:
                tracked.cancel_requested = True
            self._outbox.submit(lambda: self._send_change(trade, what, change))

        self._queue(queue, f"{what} order {order_id}")

    async def _send_change(self, trade: Trade, what: str, change: Callable[[Trade], None] | None) -> None:
        await self._outbox.pace()
        if not self._link_up():
            return  # the drop reports every unsettled order UNKNOWN; the change is decided again after it
        if trade.isDone():
            # ib_async may hold it ended on its own inference (a refused change): IB's open orders say.
            self._tracker.change_not_sent(trade.order.orderId, f"{what} not sent: ib_async holds order "
                                          f"{trade.order.orderId} as {trade.orderStatus.status}")
            return
        if change is None:
            self.connected_ib().cancelOrder(trade.order)
            return
        change(trade)
        self.connected_ib().placeOrder(trade.contract, trade.order)  # same id: IB treats it as a modification

    def _own_trade(self, order_id: int) -> Trade:
        """Our live Trade for an order id, from what ib_async holds (loop thread, no request).

        IB order ids are per client: the same id from another client is another order, which IB only
        lets that client modify, so it is refused rather than sent under our client id."""
        matches = [t for t in self.connected_ib().trades() if t.order.orderId == order_id]
        for trade in matches:
            if trade.order.clientId == self._client_id:
                return trade
        if matches:
            raise not_our_order(order_id)
        raise BrokerError(f"order {order_id} is not known to IB Gateway at {self.address}")

    def _verify(self, order_id: int) -> None:
        """Ask IB's open orders whether an order ib_async holds ended really works (loop thread)."""
        self._to_verify.add(order_id)
        if len(self._to_verify) == 1:
            asyncio.get_running_loop().create_task(self._verify_pending())

    async def _verify_pending(self) -> None:
        await asyncio.sleep(0)  # refusals that arrive together are settled by one read
        pending, self._to_verify = self._to_verify, set()
        try:
            ib = self.connected_ib()
            listed = {t.order.orderId: t for t in await self._read(ib.reqAllOpenOrdersAsync)
                      if t.order.clientId == self._client_id}
            for order_id in pending & listed.keys():
                self._tracker.confirmed_working(listed[order_id])
            gone = pending - listed.keys()
            if gone:
                fills = await self._read(lambda: ib.reqExecutionsAsync(ExecutionFilter(clientId=self._client_id)))
                for execution in self._tracker.executions(fills):
                    self._tracker.handler(execution)
                self._tracker.settle_vanished(listed.keys(), fills, only=gone)
        except (BrokerError, TimeoutError, ConnectionError) as error:
            # Left UNKNOWN: the next reconnect's reconciliation, or the next poll, settles it.
            log.warning("could not ask IB about order(s) %s: %s", sorted(pending), error)

    # --- plumbing ------------------------------------------------------------------------------

    def connected_ib(self) -> IB:
        """The live ib_async client, for the gateways.ib modules' work on the loop thread."""
        if self._ib is None or not self._ib.isConnected():
            raise not_connected(self._host, self._port, "request not sent")
        return self._ib

    def _link_up(self) -> bool:
        return self._ib is not None and self._ib.isConnected() and self._state is Connectivity.CONNECTED

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

    def _queue(self, queue: Callable[[], Any], what: str) -> Any:
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
