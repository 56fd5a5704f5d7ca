"""IBBroker: the Broker interface on ib_async, talking to IB Gateway or TWS; a facade over one module per job.

Threads: ib_async runs on one event loop in a thread this object owns (``LoopThread``); every
public method may be called from any thread and hops onto that loop with a timeout. Events (order
states, executions, connection changes, write access) are delivered on the loop thread: receivers
must hand them on to their actor (``tell``), not work in place.

- connection.py: connect, reconnect with backoff, IB's connectivity codes, the account. While it is not
  connected no order is sent: calls raise BrokerUnavailable, and orders in flight are reported UNKNOWN,
  never REJECTED.
- reconcile.py: after every (re)connect, open orders (ours adopted, never sent again), then executions,
  then positions, then a what-if order to learn whether IB takes orders at all (write_access.py).
- reads.py: positions, working orders, executions, contracts.
- order_desk.py, stock_orders.py: orders never make the caller wait on IB: they check what they can at
  once and queue the send on the loop (outbox.py); IB's answers arrive as events (order_tracker.py: what
  filled comes from executions, when an order ended from IB, never from ib_async's inference).
- pacing.py: every request under IB's 50 messages a second from one bucket; reads one at a time.
  ib_async's own sliding-window throttle is set to the same rate as a floor under messages it sends itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from ib_async import IB
from ib_async import Position as IBPosition

from config.schema import Settings
from domain.clock import Clock
from domain.model import Execution, OptionContract, Position, StockPosition, WorkingOrder
from gateways.broker import BrokerEvent, ComboRequest, LapseResult, OrderRequest, StockOrderRequest, StockOrderState
from gateways.ib.connection import Connection, ConnectionHandler
from gateways.ib.lapse import send_lapse
from gateways.ib.loop_thread import LoopThread
from gateways.ib.order_desk import OrderDesk
from gateways.ib.order_tracker import OrderTracker
from gateways.ib.pacing import Pacing
from gateways.ib.reads import Reads
from gateways.ib.reconcile import Reconciler, Reconciliation
from gateways.ib.reconnect import ReconnectPolicy
from gateways.ib.stock_orders import StockOrders
from gateways.ib.token_bucket import TokenBucket
from gateways.ib.write_access import WriteAccess, WriteAccessHandler
from gateways.ports import Connectivity

T = TypeVar("T")
__all__ = ["IBBroker", "Reconciliation"]


class IBBroker:
    def __init__(self, settings: Settings, clock: Clock, *, request_timeout: float = 10.0,
                 connect_timeout: float = 5.0, reconnect: ReconnectPolicy | None = None,
                 bucket: TokenBucket | None = None) -> None:
        bucket = bucket or TokenBucket.under_ib_limit(settings.ib_messages_per_second)
        loop = LoopThread()
        client_id = settings.ib_client_id
        self._tracker = OrderTracker(client_id, clock)
        # The reconciliation reads through the connection, so it is built after it: looked up at each connect.
        self._link = Connection(settings.ib_host, settings.ib_port, client_id, settings.ib_account, clock, loop,
                                self._tracker, lambda: self._reconciler.run(), rate=int(bucket.rate),
                                request_timeout=request_timeout, connect_timeout=connect_timeout,
                                reconnect=reconnect or ReconnectPolicy())
        self._pacing = Pacing(settings.ib_host, settings.ib_port, loop, bucket, request_timeout,
                              self._link.is_connected)
        self._access = WriteAccess(self._link.address, settings.symbol, request_timeout,
                                   lambda: self._link.account, lambda: self._link.ib)
        self._tracker.read_only = self._access.order_refused
        self._desk = OrderDesk(self, self._tracker, self._pacing.outbox, self._pacing.read, client_id, self.account)
        self._stock_desk = StockOrders(self, self._pacing.outbox, client_id, self.account)
        self._reads = Reads(self._link, self._pacing, self._tracker, self._stock_desk)
        self._reconciler = Reconciler(self._link, self._pacing, self._reads, self._tracker, self._access)

    # --- handlers ------------------------------------------------------------------------------

    def set_event_handler(self, handler: Callable[[BrokerEvent], None]) -> None:
        self._tracker.handler = handler

    def set_connection_handler(self, handler: ConnectionHandler) -> None:
        """Called with the new state and a one-line reason on every change (for status and alerts)."""
        self._link.handler = handler

    def set_write_access_handler(self, handler: WriteAccessHandler) -> None:
        """Called with False (and one line) when IB refuses orders from this client: its API is read-only;
        with True when a connection's what-if order was taken again after that."""
        self._access.handler = handler

    # --- connection ----------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return self._link.address

    @property
    def session(self) -> int:
        """Market-data generation: bumped on every connect and on IB's "data lost" (1101); market data
        subscribed in an older generation is gone at IB and must be requested again (prices.py)."""
        return self._link.session

    @property
    def last_reconciliation(self) -> Reconciliation | None:
        return self._reconciler.last

    def connect(self) -> None:
        """Connect and reconcile once; raises BrokerError (one line) when IB Gateway is not reachable."""
        self._link.connect()

    def connect_in_background(self) -> None:
        """Keep trying to connect (backoff and jitter) without blocking; progress goes to the connection
        handler. For a service started before IB Gateway, e.g. across the gateway's nightly restart."""
        self._link.connect_in_background()

    def disconnect(self) -> None:
        self._link.disconnect()

    def is_connected(self) -> bool:
        return self._link.is_connected()

    def connected_since(self) -> datetime | None:
        return self._link.connected_since()

    def connection_state(self) -> Connectivity:
        return self._link.state

    def account(self) -> str:
        return self._link.account

    def messages_sent(self) -> int:
        return self._link.counter.count

    def write_access(self) -> bool | None:
        return self._access.writable if self.is_connected() else None

    # --- reads ---------------------------------------------------------------------------------

    def positions(self) -> Sequence[Position]:
        return self._reads.positions()

    def stock_positions(self) -> Sequence[StockPosition]:
        return self._reads.stock_positions()

    def other_positions(self) -> Sequence[IBPosition]:
        """What the account holds besides options (shares an exercise or assignment left), as IB reports
        it: for the operator (`run --check`); the service trades options only."""
        return self._reads.other_positions()

    def working_orders(self) -> Sequence[WorkingOrder]:
        return self._reads.working_orders()

    def executions(self) -> Sequence[Execution]:
        return self._reads.executions()

    # --- orders --------------------------------------------------------------------------------

    async def qualify_async(self, contract: OptionContract) -> OptionContract:
        """The contract with IB's conId filled in (one request the first time, cached after)."""
        return await self._reads.qualify_async(contract)

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

    # --- for the gateways.ib modules (order desks, prices, lapse) --------------------------------

    def connected_ib(self) -> IB:
        """The live ib_async client, for the gateways.ib modules' work on the loop thread."""
        return self._link.connected_ib()

    def link_up(self) -> bool:
        """Connected and reconciled, with IB Gateway's own link to IB up: orders may go out."""
        return self._link.link_up()

    def last_read(self, contract: OptionContract) -> int:
        """The position in ``contract`` at this gateway's last read (loop thread), for the last guard."""
        return self._reads.last_read(contract)

    def run_paced(self, work: Callable[[], Any], what: str, messages: int = 0) -> Any:
        """Run ``work`` on the loop after ``messages`` tokens; every failure one BrokerError naming ``what``."""
        return self._pacing.run_paced(work, what, messages)

    def queue(self, queue: Callable[[], T], what: str) -> T:
        """Run ``queue`` (checks and queues only) on the loop; an unknown outcome, never a failure, if late."""
        return self._pacing.queue(queue, what)

    async def _read(self, request: Callable[[], Awaitable[Any]], messages: int = 1) -> Any:
        """One paced read at a time on the loop (pacing.py)."""
        return await self._pacing.read(request, messages)
