"""A real actor tree (runtime.service.Service) in real time around a scripted price source and the paper broker.

The latency benchmark drives its ticks itself. Instrumentation is by wrapping, never by editing the
service: the broker's ``place_order`` is timed, and the registry's ``tell`` is counted.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from config.loader import load_settings
from config.schema import Settings
from domain.alerts import Alert
from domain.model import OptionContract, Position, Quote, Right
from domain.session import EASTERN, ExpirySession
from gateways.audit.durable import DurableAuditLog
from gateways.audit.factory import open_store
from gateways.metrics import Metrics
from gateways.paper_broker import PaperBroker
from gateways.ports import AlertSender
from gateways.sim_market import SimulatedMarket, SpotScript
from runtime.app import Gateways, build_app
from runtime.clock import WallClock
from runtime.service import Service

OTM_SPOT = 100.0  # every call far out of the money: the policy only watches
ITM_SPOT = 10_000.0  # every call in the money: at T-5 the policy closes all of them at once


class ScriptedSource:
    """A PriceSource whose SPY price the benchmark sets; quotes are stamped with the wall clock."""

    name = "sim"  # a metric label: one of thetadata, ib, sim

    def __init__(self, clock: WallClock) -> None:
        self.clock, self.spot = clock, OTM_SPOT

    def underlying_quote(self, symbol: str) -> Quote:
        price = self.spot
        return Quote(symbol, price - 0.01, price + 0.01, price, self.clock.now(), self.name)

    def option_quotes(self, contracts: Sequence[OptionContract]) -> Mapping[str, Quote]:
        now = self.clock.now()
        return {c.key: Quote(c.key, 1.00, 1.10, 1.05, now, self.name, implied_vol=0.15) for c in contracts}


class SlowSender:
    """The Notifier's sender, slowed down: each alert takes ``delay`` seconds (an HTTP call timing out)."""

    def __init__(self, delay: float) -> None:
        self.delay, self.sent = delay, 0

    def send(self, alert: Alert) -> None:
        time.sleep(self.delay)
        self.sent += 1

    def close(self, timeout: float = 5.0) -> None:
        """Nothing queued: each send blocked for its delay."""


class SlowStore:
    """The audit store, slowed down: each insert batch takes ``delay`` seconds (a struggling database)."""

    def __init__(self, store, delay: float) -> None:
        self._store, self._delay = store, delay

    def insert_actions(self, records):
        time.sleep(self._delay)
        return self._store.insert_actions(records)

    def insert_assessments(self, records):
        time.sleep(self._delay)
        return self._store.insert_assessments(records)

    def __getattr__(self, name):
        return getattr(self._store, name)


@dataclass
class Instrumented:
    service: Service
    broker: PaperBroker
    source: ScriptedSource
    order_times: list[float] = field(default_factory=list)
    tells: list[int] = field(default_factory=lambda: [0])
    directory: tempfile.TemporaryDirectory | None = None
    stack: contextlib.ExitStack | None = None

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.close()  # the tree, then the sender, then the audit log's last delivery (runtime.app)
        if self.directory is not None:
            self.directory.cleanup()


def bench_settings(data_dir: Path) -> Settings:
    flags = {"mode": "active", "data_dir": str(data_dir), "price_source": "sim", "metrics_port": 0,
             "log_dir": str(data_dir / "logs")}
    return load_settings(flags=flags, environ={}).settings


def build_tree(positions: int, *, slow_store: float = 0.0, slow_sender: float = 0.0,
               minutes_to_close: float = 4.0) -> Instrumented:
    """A started tree holding ``positions`` short calls, in the T-5 stage of a session closing soon.

    Short, not long: with ``lapse_longs`` (the default rules) a long in the money waits for T-2, so
    long calls at T-5 place no order at all and the benchmark timed out."""
    clock = WallClock()
    now = clock.now()
    close = (now + timedelta(minutes=minutes_to_close)).astimezone(EASTERN)
    session = ExpirySession(day=close.date(), close=close, regular_close=close)
    held = [Position(OptionContract("SPY", Right.CALL, 500.0 + i, session.day), -1, 1.0) for i in range(positions)]
    directory = tempfile.TemporaryDirectory(prefix="bench-latency-")
    settings = bench_settings(Path(directory.name))
    market = SimulatedMarket(SpotScript(OTM_SPOT), session, clock, datetime.now(UTC))
    broker = PaperBroker(market, clock, held)
    source = ScriptedSource(clock)

    def factory():
        store = open_store(settings)
        store.migrate()
        return SlowStore(store, slow_store) if slow_store else store

    audit_log = DurableAuditLog(Path(directory.name) / "spool", factory)
    sender: AlertSender = SlowSender(slow_sender) if slow_sender else SlowSender(0.0)
    stack = contextlib.ExitStack()
    app = stack.enter_context(build_app(settings, clock, session, Gateways.ready(broker, source), sender, audit_log,
                                        Metrics(process_collectors=False)))
    tree = Instrumented(app.service, broker, source, directory=directory, stack=stack)
    _instrument(tree)  # before the first tick: nothing is placed or told before it
    return tree


def _instrument(tree: Instrumented) -> None:
    place, lock = tree.broker.place_order, threading.Lock()

    def timed_place(request):
        order_id = place(request)
        with lock:
            tree.order_times.append(time.perf_counter())
        return order_id

    tree.broker.place_order = timed_place  # the Executor calls self.broker.place_order
    registry, tell = tree.service.registry, tree.service.registry.tell

    def counted_tell(role, message):
        tree.tells[0] += 1  # a racy += under the GIL can lose a count now and then: fine for a rate
        tell(role, message)

    registry.tell = counted_tell  # every actor sends through ctx.registry, the same object
