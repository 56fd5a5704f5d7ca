"""The fake IB Gateway: an asyncio TCP server on 127.0.0.1, run in its own thread for tests.

Public methods are called from the test's thread; they hop onto the gateway's loop and wait.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tests.fakes.ib_gateway import encoders as enc
from tests.fakes.ib_gateway.book import Book
from tests.fakes.ib_gateway.market_data import Quote
from tests.fakes.ib_gateway.orders import OrderDesk
from tests.fakes.ib_gateway.requests import ExerciseOptionsRequest, place_order
from tests.fakes.ib_gateway.script import FakeOrder, GatewayScript, OrderBehaviour
from tests.fakes.ib_gateway.session import Session

T = TypeVar("T")
POSITION_CHECK_SECONDS = 0.02  # how often (wall) lagging position updates are checked against the clock


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() on arrival
    session: int  # connection number, from 1
    client_id: int | None
    name: str
    fields: tuple[str, ...]
    dropped: bool = False  # over IB's message rate limit: answered with error 100, not handled


class FakeIBGateway:
    def __init__(self, script: GatewayScript | None = None) -> None:
        self.script = script or GatewayScript()
        self.book = Book(self.script, self._send_to_client, self._send_positions)
        self.desk = OrderDesk(self.script, self.book, self._send_to_client)
        self.sessions: set[Session] = set()
        self.port = 0
        self._received: list[Received] = []
        self.lapses: list[ExerciseOptionsRequest] = []  # exercise/lapse instructions taken (not refused)
        self._mark = 0
        self._lock = threading.Lock()
        self._connections = 0
        self._seen: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None

    # --- life -----------------------------------------------------------------------------------

    def start(self) -> FakeIBGateway:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="fake-ib-gateway", daemon=True)
        self._thread.start()
        if not ready.wait(5):
            raise RuntimeError("fake IB gateway did not start")
        return self

    def _run(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            self._loop.create_server(self._new_session, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        for step in self.script.price_path:
            self._loop.call_later(step.at, self._set_quote, step.key, step.bid, step.ask, step.last,
                                  step.implied_vol)
        if self.script.tick_every is not None:
            self._loop.call_later(self.script.tick_every, self._tick_again)
        if self.script.position_lag_seconds > 0:
            self._loop.call_later(POSITION_CHECK_SECONDS, self._push_due_positions)
        ready.set()
        self._loop.run_forever()
        self._loop.close()

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return

        def shutdown() -> None:
            for session in list(self.sessions):
                session.close()
            if self._server is not None:
                self._server.close()
            assert self._loop is not None
            self._loop.stop()

        self._loop.call_soon_threadsafe(shutdown)
        self._thread.join(5)
        self._loop = None

    def __enter__(self) -> FakeIBGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _new_session(self) -> Session:
        self._connections += 1
        session = Session(self, self._connections)
        self.sessions.add(session)
        return session

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the gateway's loop (where all state lives) and return its result."""
        assert self._loop is not None, "gateway not started"

        async def call() -> T:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(5)

    # --- outbox (loop thread) ---------------------------------------------------------------------

    def _send_to_client(self, client_id: int | None, fields: list[object]) -> None:
        for session in list(self.sessions):
            if client_id is None or session.client_id == client_id:
                session.send(fields)

    def _send_positions(self, fields: list[object]) -> None:
        for session in list(self.sessions):
            if session.wants_positions:
                session.send(fields)

    def record(self, session: Session, name: str, fields: list[str], dropped: bool = False) -> None:
        with self._lock:
            self._received.append(Received(time.monotonic(), session.number, session.client_id, name,
                                           tuple(fields), dropped))

    def close_soon(self, session: Session) -> None:
        """Drop the client's socket once what was written reached it: IB drops after replying, not before."""
        assert self._loop is not None
        self._loop.call_later(0.05, session.close)

    def _push_due_positions(self) -> None:
        self.book.push_due_positions()
        assert self._loop is not None
        self._loop.call_later(POSITION_CHECK_SECONDS, self._push_due_positions)

    def after_message(self, session: Session, name: str) -> None:
        if name != self.script.disconnect_after:
            return
        self._seen[name] = self._seen.get(name, 0) + 1
        if self._seen[name] == self.script.disconnect_after_count:
            self.close_soon(session)

    # --- scripting from the test thread ------------------------------------------------------------

    def set_quote(self, key: str, bid: float, ask: float, last: float | None = None,
                  implied_vol: float | None = None) -> None:
        self._call(self._set_quote, key, bid, ask, last, implied_vol)

    def _set_quote(self, key: str, bid: float, ask: float, last: float | None, implied_vol: float | None) -> None:
        self.book.instruments.by_key(key)
        self.book.quotes[key] = Quote(bid, ask, last, implied_vol)
        for session in list(self.sessions):
            session.push_quote(key)
        self.desk.recheck_combos()

    def _tick_again(self) -> None:
        for session in list(self.sessions):
            for key in self.book.quotes:
                session.push_quote(key)
        assert self._loop is not None and self.script.tick_every is not None
        self._loop.call_later(self.script.tick_every, self._tick_again)

    def fill(self, order_id: int, price: float | None = None, quantity: int | None = None) -> None:
        """Fill the order with this handle (its ``order_id``), wholly or ``quantity`` of it."""
        self._call(lambda: self.book.fill(self.desk.find(order_id), price, quantity))

    def use_clock(self, now: Callable[[], float]) -> None:
        """Take time (epoch seconds) from ``now``: execution times, position-read lag, reqCurrentTime."""
        self.book.clock.use(now)

    def place_order_as(self, client_id: int, key: str, action: str, quantity: int, order_type: str,
                       limit: float | None = None, aux: float | None = None, order_ref: str = "", tif: str = "DAY",
                       trail_stop: float | None = None, trailing_percent: float | None = None,
                       limit_offset: float | None = None, behaviour: OrderBehaviour | None = None) -> FakeOrder:
        """A working order placed now by another API client (``client_id`` > 0) or in TWS (0).

        Pushed (openOrder, orderStatus) only to the clients that see it at IB: its owner's sessions
        (for a TWS order: client 0, which auto-binds it at once after reqAutoOpenOrders(True));
        others see it when they ask. Its ``order_id`` is the test's handle (``fill``, ``orders``);
        a TWS order's API id is 0 until bound. ``behaviour`` (default: rest) decides how it works."""

        def add() -> FakeOrder:
            order = FakeOrder(self.desk.next_order_id, self.book.instruments.by_key(key), action, quantity,
                              order_type, limit, aux, order_ref, client_id, tif=tif, trail_stop_price=trail_stop,
                              trailing_percent=trailing_percent, limit_offset=limit_offset)
            bind = any(s.client_id == 0 and s.auto_bind for s in self.sessions)
            self.desk.add(order, behaviour or OrderBehaviour.rest(), bind)
            return order

        return self._call(add)

    def send_connectivity(self, code: int) -> None:
        """IB Gateway's word on its own link to IB's servers, to every client, as error(-1, code).

        1100 lost; 1101 restored with market data lost (every subscription is dropped, as at IB);
        1102 restored with data maintained; 2110 the warning that the link is broken."""
        def send() -> None:
            for session in list(self.sessions):
                if code == 1101:
                    session.market_data.clear()
                session.send(enc.connectivity(code))

        self._call(send)

    def drop_connections(self) -> None:
        """Close every client socket now, as IB Gateway's nightly restart does."""
        self._call(lambda: [session.close() for session in list(self.sessions)])

    def refuse_connections(self, refusing: bool) -> None:
        """Stop or resume listening on the port, as IB Gateway does while it restarts (connection refused)."""

        async def toggle() -> None:
            assert self._loop is not None
            if refusing and self._server is not None:
                self._server.close()
                self._server = None
            elif not refusing and self._server is None:
                self._server = await self._loop.create_server(self._new_session, "127.0.0.1", self.port)

        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(toggle(), self._loop).result(5)

    @property
    def connected_clients(self) -> int:
        return self._call(lambda: sum(1 for s in self.sessions if s.client_id is not None))

    def orders(self) -> dict[int, Any]:
        """Every order by its handle (its ``order_id``: the ids a test scripts are unique across clients)."""
        return self._call(lambda: {order_id: order for (_, order_id), order in self.desk.orders.items()})

    def position(self, key: str) -> int:
        """The true position: every fill counted at once."""
        return self._call(lambda: self.true_position(key))

    def true_position(self, key: str) -> int:
        """The position now, on the gateway's loop (for its own request handlers)."""
        return sum(p.quantity for p in self.book.positions.true.values() if p.contract.key == key)

    def reported_position(self, key: str) -> int:
        """What a position read shows now: fills of the last ``position_lag_seconds`` left out."""
        return self._call(lambda: sum(self.book.positions.reported(p.contract.con_id, self.book.clock())
                                      for p in self.book.positions.true.values() if p.contract.key == key))

    def con_id(self, key: str) -> int:
        return self._call(self.book.instruments.by_key, key).con_id

    # --- what the client sent ------------------------------------------------------------------------

    def received(self, name: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._received if name is None or r.name == name]

    def mark(self) -> None:
        """Remember this point, e.g. once the client has connected, for ``received_since_mark``."""
        with self._lock:
            self._mark = len(self._received)

    def received_since_mark(self, name: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._received[self._mark:] if name is None or r.name == name]

    def count(self, name: str) -> int:
        return len(self.received(name))

    def orders_sent(self, since_mark: bool = False) -> list[Received]:
        """placeOrder messages that place or change an order: the what-if probes (which never do) left out."""
        sent = self.received_since_mark("placeOrder") if since_mark else self.received("placeOrder")
        return [r for r in sent if not place_order(list(r.fields)).what_if]

    def max_messages_in_any_second(self) -> int:
        """The most messages the client sent within any sliding one-second window."""
        times = [r.at for r in self.received()]
        best, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return predicate()
