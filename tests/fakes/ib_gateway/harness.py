"""Test helpers around the fake gateway: settings pointing at it, an order-event recorder, a bare client."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ib_async import IB

from config.loader import load_settings
from config.schema import Settings
from domain.model import Execution
from gateways.broker import BrokerEvent, OrderEvent, OrderStatus
from tests.fakes.ib_gateway.server import FakeIBGateway


def settings_for(gateway: FakeIBGateway | None = None, port: int | None = None, **changes: object) -> Settings:
    flags = {"ib_host": "127.0.0.1", "ib_port": port or (gateway.port if gateway else 4002), **changes}
    return load_settings(flags=flags, environ={}).settings


class EventRecorder:
    """Collects the broker's events (OrderEvents and Executions, delivered on its thread) and lets the test
    wait for one."""

    def __init__(self) -> None:
        self.events: list[BrokerEvent] = []
        self._changed = threading.Condition()

    def __call__(self, event: BrokerEvent) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[BrokerEvent], bool], timeout: float = 5.0) -> BrokerEvent:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching order event within {timeout}s; got {self.statuses()}")
                self._changed.wait(left)

    def wait_status(self, order_id: str, status: OrderStatus, timeout: float = 5.0) -> OrderEvent:
        event = self.wait_for(lambda e: isinstance(e, OrderEvent) and e.order_id == order_id and e.status is status,
                              timeout)
        assert isinstance(event, OrderEvent)
        return event

    def executions(self, order_id: str | None = None) -> list[Execution]:
        with self._changed:
            return [e for e in self.events if isinstance(e, Execution) and order_id in (None, e.order_id)]

    def statuses(self, order_id: str | None = None) -> list[str]:
        with self._changed:
            return [f"{e.order_id}:{e.status.value}" for e in self.events
                    if isinstance(e, OrderEvent) and order_id in (None, e.order_id)]


@dataclass(frozen=True)
class ErrorSeen:
    req_id: int
    code: int
    message: str


@contextmanager
def ib_client(gateway: FakeIBGateway, client_id: int = 17,
              readonly: bool = False) -> Iterator[tuple[IB, list[ErrorSeen]]]:
    """A real ib_async client connected to the gateway, and every error it receives (from the handshake on).

    ``TimezoneTWS`` is UTC, the zone of the gateway's execution times (see ``executions``)."""
    ib = IB()
    ib.TimezoneTWS = "UTC"
    errors: list[ErrorSeen] = []
    ib.errorEvent += lambda req_id, code, message, contract: errors.append(ErrorSeen(req_id, code, message))
    ib.connect("127.0.0.1", gateway.port, clientId=client_id, timeout=3, readonly=readonly)
    try:
        yield ib, errors
    finally:
        ib.disconnect()


def settle(ib: IB, predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Run the client's loop (so it reads what the gateway sent) until ``predicate`` holds or time is up."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        ib.sleep(0.02)
    return True
