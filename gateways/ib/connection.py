"""The API connection to IB Gateway: connect, reconnect, IB's connectivity codes, the account.

After a drop the connection reconnects with backoff and jitter; after every (re)connect, and after IB's
"restored" codes, it runs the reconciliation it was given before it says CONNECTED again, so no order goes
out on a state nobody read. A half-made connection is not one: a connect whose reconciliation fails leaves
no socket up. Everything but the public entry points runs on the loop thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from ib_async import IB, Contract
from ib_async.ib import StartupFetchNONE

from domain.clock import Clock
from gateways.broker import BrokerError
from gateways.ib import codes
from gateways.ib.errors import not_connected, not_reconciled, unreachable
from gateways.ib.loop_thread import LoopThread, LoopTimeout
from gateways.ib.order_tracker import OrderTracker
from gateways.ib.reconnect import ReconnectPolicy
from gateways.ib.token_bucket import MessageCounter
from gateways.ports import Connectivity

log = logging.getLogger("gateways.ib.broker")  # the facade's name: the operator's log lines stay as they were

ConnectionHandler = Callable[[Connectivity, str], None]


class Connection:
    def __init__(self, host: str, port: int, client_id: int, configured_account: str, clock: Clock,
                 loop: LoopThread, tracker: OrderTracker, reconcile: Callable[[], Awaitable[object]], *, rate: int,
                 request_timeout: float, connect_timeout: float, reconnect: ReconnectPolicy) -> None:
        self.host, self.port, self.client_id = host, port, client_id
        self._configured_account = configured_account
        self._clock, self._loop, self._tracker, self._rate = clock, loop, tracker, rate
        self._request_timeout, self._connect_timeout = request_timeout, connect_timeout
        self._reconnect_policy = reconnect
        self.counter = MessageCounter()
        self.ib: IB | None = None
        self.account = ""
        self.state = Connectivity.CLOSED
        self._connected_at: datetime | None = None
        self._want_connected = False
        self._reconnecting = False
        self.handler: ConnectionHandler = lambda state, message: None
        self._reconcile = reconcile  # run before every CONNECTED: no order goes out on a state nobody read
        # Market-data generation: bumped on every connect and on IB's "data lost" (1101); market data
        # subscribed in an older generation is gone at IB and must be requested again (prices.py).
        self.session = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

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
            raise unreachable(self.host, self.port, TimeoutError(), self.client_id, self._connect_timeout) \
                from error
        except BaseException:
            self._want_connected = False  # _connect_and_reconcile already dropped the socket
            raise

    def connect_in_background(self) -> None:
        """Keep trying to connect (backoff and jitter) without blocking; progress goes to the handler."""
        self._loop.start()
        self._want_connected = True
        self._set_state(Connectivity.DISCONNECTED, f"connecting to IB Gateway at {self.address}")
        self._loop.call_soon(lambda: self._start_reconnecting())

    def disconnect(self) -> None:
        self._want_connected = False
        if not self._loop.running:
            return
        try:
            self._loop.run(self._close, self._request_timeout)
        finally:
            self._loop.stop()

    def is_connected(self) -> bool:
        return self.state is Connectivity.CONNECTED

    def connected_since(self) -> datetime | None:
        return self._connected_at if self.is_connected() else None

    def connected_ib(self) -> IB:
        if self.ib is None or not self.ib.isConnected():
            raise not_connected(self.host, self.port, "request not sent")
        return self.ib

    def link_up(self) -> bool:
        return self.ib is not None and self.ib.isConnected() and self.state is Connectivity.CONNECTED

    def _start_reconnecting(self) -> None:
        if self._want_connected and not self._reconnecting:
            asyncio.get_running_loop().create_task(self._reconnect_forever())

    async def _connect_and_reconcile(self) -> None:
        ib = self.ib or self._new_ib()
        try:
            await ib.connectAsync(self.host, self.port, self.client_id, timeout=self._connect_timeout,
                                  account=self._configured_account, fetchFields=StartupFetchNONE)
        except BaseException as error:
            ib.disconnect()
            raise unreachable(self.host, self.port, error, self.client_id, self._connect_timeout) from error
        try:
            self.account = self._pick_account(ib.client.getAccounts())
            self.session += 1
            await self._reconcile()
        except Exception as error:
            # A half-made connection is not one: never leave the socket up without a reconciliation.
            ib.disconnect()
            raise not_reconciled(self.host, self.port, error, self._request_timeout) from error
        self._set_state(Connectivity.CONNECTED, f"connected to IB Gateway at {self.address}, account {self.account}")

    def _new_ib(self) -> IB:
        ib = IB()
        # IB sends some times (executions below server version 200) as YYYYMMDD-HH:MM:SS without a zone, in
        # UTC; ib_async 2.1.0 reads such a time in the host's zone (ib_async issue #230). Times with a zone
        # are unaffected. The Book compares execution times with its reads: hours off would be dangerous.
        ib.TimezoneTWS = "UTC"
        ib.client.MaxRequests = self._rate  # ib_async's sliding one-second window, under IB's limit
        send = ib.client.conn.sendMsg

        def counting_send(message: bytes) -> None:
            self.counter.add()
            send(message)

        ib.client.conn.sendMsg = counting_send  # type: ignore[method-assign]
        ib.orderStatusEvent += self._tracker.on_order_status
        ib.execDetailsEvent += self._tracker.on_execution
        ib.commissionReportEvent += self._tracker.on_commission
        ib.errorEvent += self._on_error
        ib.disconnectedEvent += self._on_disconnected
        self.ib = ib
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
        if self.ib is not None:
            self.ib.disconnect()
            self.ib = None  # bound to this loop; the next connect() builds a new one

    def _drop_ib(self) -> None:
        if self.ib is not None:
            self.ib.disconnect()

    def _set_state(self, state: Connectivity, message: str) -> None:
        if state is self.state:
            return
        self.state = state
        self._connected_at = self._clock.now() if state is Connectivity.CONNECTED else None
        log.info("IB connection %s: %s", state, message)
        self.handler(state, message)

    def _on_disconnected(self) -> None:
        if self.state not in (Connectivity.CONNECTED, Connectivity.LOST):
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
            log.warning("reconcile after IB code %d failed, connection left %s: %s", code, self.state, error)
            return
        if self.state in (Connectivity.LOST, Connectivity.CONNECTED):  # a drop meanwhile: the reconnect owns it
            self._set_state(Connectivity.CONNECTED, f"IB code {code}: {message}")
