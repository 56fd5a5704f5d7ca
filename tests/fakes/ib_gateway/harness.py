"""Test helpers around the fake gateway: settings pointing at it, an order-event recorder."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from config.settings import Settings, load_settings
from gateways.broker import OrderEvent, OrderStatus
from tests.fakes.ib_gateway.server import FakeIBGateway


def settings_for(gateway: FakeIBGateway | None = None, port: int | None = None, **changes: object) -> Settings:
    flags = {"ib_host": "127.0.0.1", "ib_port": port or (gateway.port if gateway else 4002), **changes}
    return load_settings(flags=flags, environ={}).settings


class EventRecorder:
    """Collects OrderEvents (delivered on the broker's thread) and lets the test wait for one."""

    def __init__(self) -> None:
        self.events: list[OrderEvent] = []
        self._changed = threading.Condition()

    def __call__(self, event: OrderEvent) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[OrderEvent], bool], timeout: float = 5.0) -> OrderEvent:
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
        return self.wait_for(lambda e: e.order_id == order_id and e.status is status, timeout)

    def statuses(self, order_id: str | None = None) -> list[str]:
        with self._changed:
            return [f"{e.order_id}:{e.status.value}" for e in self.events if order_id in (None, e.order_id)]
