"""IBBroker: the Broker interface on ib_async, talking to IB Gateway or TWS.

Threads: ib_async runs on one event loop in a thread this object owns (``LoopThread``); every
public method may be called from any thread and hops onto that loop with a timeout. Order events
and connection-state changes are delivered on the loop thread: receivers must hand them on to
their actor (``tell``), not work in place.

Pacing: every public call takes its messages from a token bucket in the caller's thread before
it reaches the loop, so a burst (emergency included) stays under IB's 50 messages a second;
ib_async's own sliding-window throttle is set to the same rate as a floor under messages the
gateway sends by itself (the sync after a reconnect).

Connection life: after a drop the gateway reconnects with backoff and jitter, and after every
(re)connect reconciles in a fixed order: open orders (ours, by orderRef, are adopted, never sent
again), then executions (fills missed while away), then positions. While it is not connected no
order is sent: calls raise BrokerUnavailable, and orders in flight are reported UNKNOWN, never REJECTED.

Orders go out in two hops onto the loop: first the reads they need (qualify the contract, find the
order to modify), whose failures mean nothing was sent; then the send itself, synchronous, whose
only unknown is a loop that did not run it in time (OrderOutcomeUnknown: it may still have gone out).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ib_async import IB, Contract, ExecutionFilter, Trade
from ib_async import Position as IBPosition
from ib_async.ib import StartupFetchNONE
from ib_async.util import UNSET_DOUBLE

from config.settings import Settings
from domain.model import OptionContract, Position, WorkingOrder
from domain.order_refs import is_cleanup_ref
from gateways.broker import BrokerError, OrderEvent, OrderRequest
from gateways.ib import codes, mapping
from gateways.ib.codes import Connectivity
from gateways.ib.errors import not_connected, not_our_order, not_reconciled, outcome_unknown, unreachable
from gateways.ib.loop_thread import LoopThread, LoopTimeout
from gateways.ib.order_tracker import OrderTracker
from gateways.ib.reconnect import ReconnectPolicy
from gateways.ib.token_bucket import MessageCounter, TokenBucket
from runtime.clock import Clock

log = logging.getLogger(__name__)

ConnectionHandler = Callable[[Connectivity, str], None]


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
        self._tracker = OrderTracker(self._client_id, clock)
        self._qualified: dict[str, OptionContract] = {}
        self._connection_handler: ConnectionHandler = lambda state, message: None
        self.last_reconciliation: Reconciliation | None = None
        # Market-data generation: bumped on every connect and on IB's "data lost" (1101); market data
        # subscribed in an older generation is gone at IB and must be requested again (prices.py).
        self.session = 0

    # --- handlers ------------------------------------------------------------------------------

    def set_event_handler(self, handler: Callable[[OrderEvent], None]) -> None:
        self._tracker.handler = handler

    def set_connection_handler(self, handler: ConnectionHandler) -> None:
        """Called with the new state and a one-line reason on every change (for status and alerts)."""
        self._connection_handler = handler

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
            self._loop.run(self._connect_and_reconcile, self._connect_timeout + 4 * self._request_timeout)
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
        ib = self.connected_ib()
        timeout = self._request_timeout
        open_trades = await asyncio.wait_for(ib.reqAllOpenOrdersAsync(), timeout)
        adopted = []
        open_ids = set()
        for trade in open_trades:
            open_ids.add(trade.order.orderId)
            ours = trade.order.clientId == self._client_id and is_cleanup_ref(trade.order.orderRef)
            if ours and mapping.is_option(trade.contract):
                self._tracker.report(trade)
                adopted.append(mapping.to_working_order(trade))
        fills = await asyncio.wait_for(ib.reqExecutionsAsync(ExecutionFilter(clientId=self._client_id)), timeout)
        self._tracker.settle_vanished(open_ids, fills)
        positions = await asyncio.wait_for(ib.reqPositionsAsync(), timeout)
        result = Reconciliation(tuple(adopted), len(fills), tuple(self._to_positions(positions)))
        self.last_reconciliation = result
        log.info("IB reconciled: %d order(s) adopted, %d execution(s), %d position(s)",
                 len(result.adopted), result.executions, len(result.positions))
        return result

    # --- reads ---------------------------------------------------------------------------------

    def positions(self) -> Sequence[Position]:
        async def read() -> list[Position]:
            ib = self.connected_ib()
            return self._to_positions(await asyncio.wait_for(ib.reqPositionsAsync(), self._request_timeout))

        return self.run_paced(read, "positions not read", messages=1)

    def _to_positions(self, items: list) -> list[Position]:
        return [mapping.from_ib_position(p) for p in self._held(items) if mapping.is_option(p.contract)]

    def _held(self, items: list[IBPosition]) -> list[IBPosition]:
        return [p for p in items if p.account == self._account and p.position]

    def other_positions(self) -> Sequence[IBPosition]:
        """What the account holds besides options (shares an exercise or assignment left), as IB reports
        it: for the operator (`run --check`); the service trades options only."""
        async def read() -> list[IBPosition]:
            ib = self.connected_ib()
            items = await asyncio.wait_for(ib.reqPositionsAsync(), self._request_timeout)
            return [p for p in self._held(items) if not mapping.is_option(p.contract)]

        return self.run_paced(read, "positions not read", messages=1)

    def working_orders(self) -> Sequence[WorkingOrder]:
        async def read() -> list[WorkingOrder]:
            ib = self.connected_ib()
            trades = await asyncio.wait_for(ib.reqAllOpenOrdersAsync(), self._request_timeout)
            return [mapping.to_working_order(t) for t in trades
                    if mapping.is_option(t.contract) and t.orderStatus.status in codes.WORKING_STATES
                    and t.order.account in ("", self._account)]

        return self.run_paced(read, "working orders not read", messages=1)

    # --- orders --------------------------------------------------------------------------------

    def qualify(self, contract: OptionContract) -> OptionContract:
        """The contract with IB's conId filled in (one request the first time, cached after)."""
        known = self._known(contract)
        if known is not None:
            return known  # no request: no token
        return self.run_paced(lambda: self.qualify_async(contract), "contract not qualified", messages=1)

    def _known(self, contract: OptionContract) -> OptionContract | None:
        return contract if contract.con_id else self._qualified.get(contract.key)

    async def qualify_async(self, contract: OptionContract) -> OptionContract:
        known = self._known(contract)
        if known is not None:
            return known
        ib = self.connected_ib()
        ib_contract = mapping.to_ib_option(contract)
        details = await asyncio.wait_for(ib.reqContractDetailsAsync(ib_contract), self._request_timeout)
        if len(details) != 1 or details[0].contract is None:
            raise BrokerError(f"IB does not know one contract {contract.key} ({len(details)} matches)")
        qualified = mapping.from_ib_option(details[0].contract)
        self._qualified[contract.key] = qualified
        return qualified

    def place_order(self, request: OrderRequest) -> str:
        if request.quantity <= 0:
            raise BrokerError(f"order quantity must be positive, got {request.quantity}")
        contract = self.qualify(request.contract)  # a failure here sent no order: a plain BrokerError

        def place() -> str:
            order = mapping.to_ib_order(request, self._account)
            self.connected_ib().placeOrder(mapping.to_ib_option(contract), order)
            self._tracker.placed(order.orderId, contract, request.side, request.quantity, request.order_ref)
            return str(order.orderId)

        return self._send_paced(place, f"place {request.order_ref}")

    def modify_limit(self, order_id: str, limit_price: float) -> None:
        def modify(trade: Trade) -> None:
            trade.order.lmtPrice = limit_price

        self._modify(order_id, modify)

    def modify_to_market(self, order: WorkingOrder) -> None:
        def to_market(trade: Trade) -> None:
            trade.order.orderType = "MKT"
            trade.order.lmtPrice = UNSET_DOUBLE
            trade.order.auxPrice = UNSET_DOUBLE

        self._modify(order.order_id, to_market)

    def _modify(self, order_id: str, change: Callable[[Trade], None]) -> None:
        self._find_trade(order_id, "order not modified")

        def modify() -> None:
            trade = self._own_trade(int(order_id))
            if trade.isDone():
                raise BrokerError(f"order {order_id} is {trade.orderStatus.status}; not modified")
            change(trade)
            self._tracker.track(trade)
            self.connected_ib().placeOrder(trade.contract, trade.order)  # same id: IB treats it as a modification

        self._send_paced(modify, f"modify order {order_id}")

    def cancel(self, order_id: str) -> None:
        self._find_trade(order_id, "order not cancelled")

        def cancel() -> None:
            trade = self._own_trade(int(order_id))
            self._tracker.track(trade).cancel_requested = True
            if not trade.isDone():
                self.connected_ib().cancelOrder(trade.order)

        self._send_paced(cancel, f"cancel order {order_id}")

    def _find_trade(self, order_id: str, what: str) -> None:
        """Make sure ib_async holds the live Trade for one of our order ids (a refresh if not), or refuse.

        Id 0 is an order placed in TWS that no API client is bound to: ib_async's placeOrder would give
        it a new id, i.e. send a second, new order while the original keeps working."""
        if int(order_id) == 0:
            raise not_our_order(order_id)

        async def find() -> None:
            ib = self.connected_ib()
            if not any(t.order.orderId == int(order_id) for t in ib.trades()):
                await asyncio.wait_for(ib.reqAllOpenOrdersAsync(), self._request_timeout)
            self._own_trade(int(order_id))

        self.run_paced(find, what, messages=0)

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

    # --- plumbing ------------------------------------------------------------------------------

    def connected_ib(self) -> IB:
        """The live ib_async client, for the gateways.ib modules' work on the loop thread."""
        if self._ib is None or not self._ib.isConnected():
            raise not_connected(self._host, self._port, "request not sent")
        return self._ib

    def run_paced(self, work: Callable[[], Any], what: str, messages: int) -> Any:
        """Pace (``messages`` tokens), then run ``work`` on the loop thread and return its result.

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

    def _send_paced(self, send: Callable[[], Any], what: str) -> Any:
        """Pace one message, then run ``send`` (synchronous: it hands an order request to ib_async).

        Raises BrokerUnavailable only when nothing went out: not connected, or ib_async refused to
        write (its ``send`` raises ConnectionError before writing a byte). A loop that did not run
        ``send`` in time may still run it: that outcome is unknown, never a failure of the order."""
        if not self.is_connected():
            raise not_connected(self._host, self._port, f"{what} not sent")
        self._bucket.take(1)
        try:
            return self._loop.run(send, self._request_timeout)
        except BrokerError:
            raise
        except LoopTimeout as error:
            raise outcome_unknown(self._host, self._port, what, self._request_timeout) from error
        except ConnectionError as error:
            raise not_connected(self._host, self._port, f"{what} not sent") from error
