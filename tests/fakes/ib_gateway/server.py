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
from tests.fakes.ib_gateway.book import Book, QuoteState
from tests.fakes.ib_gateway.script import GatewayScript
from tests.fakes.ib_gateway.session import Session

T = TypeVar("T")


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() on arrival
    session: int  # connection number, from 1
    client_id: int | None
    name: str
    fields: tuple[str, ...]


class FakeIBGateway:
    def __init__(self, script: GatewayScript | None = None) -> None:
        self.script = script or GatewayScript()
        self.book = Book(self.script, self._send_to_client, self._send_positions)
        self.sessions: set[Session] = set()
        self.port = 0
        self._received: list[Received] = []
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

    def record(self, session: Session, name: str, fields: list[str]) -> None:
        with self._lock:
            self._received.append(Received(time.monotonic(), session.number, session.client_id, name,
                                           tuple(fields)))

    def after_message(self, session: Session, name: str) -> None:
        if name != self.script.disconnect_after:
            return
        self._seen[name] = self._seen.get(name, 0) + 1
        if self._seen[name] == self.script.disconnect_after_count:
            # Let what was written reach the client first: IB drops after replying, not before.
            assert self._loop is not None
            self._loop.call_later(0.05, session.close)

    # --- scripting from the test thread ------------------------------------------------------------

    def set_quote(self, key: str, bid: float, ask: float, last: float | None = None,
                  implied_vol: float | None = None) -> None:
        self._call(self._set_quote, key, bid, ask, last, implied_vol)

    def _set_quote(self, key: str, bid: float, ask: float, last: float | None, implied_vol: float | None) -> None:
        self.book.quotes[key] = QuoteState(bid, ask, last, implied_vol)
        if key != "SPY":
            self.book.contract_by_key(key)
        for session in list(self.sessions):
            session.push_quote(key)

    def _tick_again(self) -> None:
        for session in list(self.sessions):
            for key in self.book.quotes:
                session.push_quote(key)
        assert self._loop is not None and self.script.tick_every is not None
        self._loop.call_later(self.script.tick_every, self._tick_again)

    def fill(self, order_id: int, price: float | None = None, quantity: int | None = None) -> None:
        self._call(lambda: self.book.fill(self.book.find(order_id), price, quantity))

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
        """Every order by its id (the ids a test scripts are unique across clients)."""
        return self._call(lambda: {order_id: order for (_, order_id), order in self.book.orders.items()})

    def position(self, key: str) -> int:
        return self._call(lambda: sum(p.quantity for p in self.book.positions.values() if p.contract.key == key))

    def con_id(self, key: str) -> int:
        return self._call(self.book.contract_by_key, key).con_id

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
