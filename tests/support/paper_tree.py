"""The actor tree over the paper broker and the simulated market, ticked on a virtual clock as the
simulator ticks it, for tests that need broker state a scenario file cannot describe (orders IB would
not let us modify, underlyings besides SPY)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from config.loader import load_settings
from domain.mode import Mode
from domain.model import Position, StockPosition, WorkingOrder
from gateways.audit.durable import DurableAuditLog
from gateways.metrics import Metrics
from gateways.paper_broker import PaperBroker
from gateways.sim_market import SimulatedMarket, SpotScript
from runtime.app import Gateways, build_app
from runtime.clock import VirtualClock
from runtime.service import Service
from tests.support.ib_tree import SESSION, Alerts, audit_store

SPY_ONLY = {"SPY": 641.0}


def market(clock: VirtualClock, prices: Mapping[str, float]) -> SimulatedMarket:
    """Each symbol of ``prices`` (SPY among them) on a quiet path of its own, starting at its price."""
    scripts = {symbol: SpotScript(price, vol=0.01, seed=index) for index, (symbol, price) in enumerate(prices.items())}
    spy = scripts.pop("SPY")
    return SimulatedMarket(spy, SESSION, clock, clock.now(), underlyings=scripts)


def run_paper(tmp_path, positions: Sequence[Position], *, start: datetime, seconds: int, mode: Mode = Mode.ACTIVE,
              orders: Sequence[WorkingOrder] = (), prices: Mapping[str, float] = SPY_ONLY,
              source: Callable[[SimulatedMarket], object] | None = None,
              watch: Callable[[Service], None] | None = None,
              stock: Sequence[StockPosition] = ()) -> tuple[PaperBroker, Service, Alerts]:
    """Tick from ``start`` for ``seconds`` virtual seconds; ``source`` wraps the market the feed polls."""
    settings = load_settings(flags={"mode": mode.value, "data_dir": str(tmp_path), "price_source": "sim",
                                    "metrics_port": 0, "log_dir": str(tmp_path / "logs")}, environ={}).settings
    clock = VirtualClock(start)
    sim = market(clock, prices)
    broker = PaperBroker(sim, clock, positions, orders, stock=stock)
    alerts = Alerts()
    audit = DurableAuditLog(tmp_path / "spool", lambda: audit_store(tmp_path))
    gateways = Gateways.ready(broker, source(sim) if source else sim)
    with build_app(settings, clock, SESSION, gateways, alerts, audit, Metrics(process_collectors=False)) as app:
        service = app.service
        end = start + timedelta(seconds=seconds)
        while clock.now() < end:
            broker.process(clock.now())
            service.tick_in_order()
            if watch:
                watch(service)
            clock.advance(1.0)
    return broker, service, alerts
