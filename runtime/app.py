"""The composition root: the outside world and the actor tree for one run, started in order, stopped in reverse.

Every way the service runs (`cleanup-manager run`, the simulator, the next-morning simulation, the
benchmarks, the tests' trees) builds it here, so a new part of the tree or a new gateway is wired
once (Mopidy's pattern):

    start: the audit log (given), the alert sender (given), the broker (made, then connected), the
           price source (made on the broker), the tree (``Service``), then whatever ``attach``es to it;
    stop:  the tree, the broker (disconnected), the alert sender (closed), the audit log (finished:
           a last delivery, whatever the backoff; ``App.unsent`` is what stayed in the spool).

What differs between runs is in ``Gateways``: how to make the broker and the price source, how to
connect (``run`` goes on connecting in the background when IB Gateway is down at start), and what to
attach to the service once it exists (the IB connection watcher).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from config.schema import Settings
from domain.clock import Clock
from domain.session import ExpirySession
from gateways.audit.durable import DurableAuditLog
from gateways.metrics import Metrics
from gateways.ports import AlertSender, Broker, PriceSource
from runtime.service import Service


def _connect(broker: Broker) -> None:
    broker.connect()


def _nothing(service: Service) -> None:
    return None


@dataclass(frozen=True)
class Gateways:
    broker: Callable[[], Broker]
    prices: Callable[[Broker], PriceSource]
    connect: Callable[[Broker], None] = _connect  # raises to abort the start (nothing else is started yet)
    attach: Callable[[Service], None] = _nothing

    @classmethod
    def ready(cls, broker: Broker, source: PriceSource) -> Gateways:
        """Gateways made already: the paper broker and the simulated market (or a benchmark's source)."""
        return cls(lambda: broker, lambda _: source)


@dataclass
class App:
    service: Service
    broker: Broker
    source: PriceSource
    unsent: int = field(default=0)  # audit records left in the spool after the final delivery (set at stop)


@contextlib.contextmanager
def build_app(settings: Settings, clock: Clock, session: ExpirySession, gateways: Gateways, sender: AlertSender,
              audit_log: DurableAuditLog, metrics: Metrics, *, account: str | None = None,
              previous: ExpirySession | None = None, finish_audit: bool = True) -> Iterator[App]:
    """The started tree over its gateways; ``account``: None takes the broker's once connected;
    ``finish_audit``: False leaves the audit log open for another tree (the simulator's next morning)."""
    app: App | None = None
    with contextlib.ExitStack() as stack:

        def finish_audit_log() -> None:
            unsent = audit_log.finish()
            if app is not None:
                app.unsent = unsent

        if finish_audit:
            stack.callback(finish_audit_log)
        stack.callback(sender.close)
        broker = gateways.broker()
        gateways.connect(broker)
        stack.callback(broker.disconnect)
        source = gateways.prices(broker)
        service = Service(settings, clock, session, broker, source, sender, audit_log, metrics,
                          account=broker.account() if account is None else account, previous=previous)
        gateways.attach(service)
        stack.callback(service.stop)  # idempotent: also after a start that failed half way
        service.start()
        app = App(service, broker, source)
        yield app
