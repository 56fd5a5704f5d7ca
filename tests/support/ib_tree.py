"""The actor tree over the real ib_async client and the fake IB Gateway, ticked on a virtual clock."""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

from config.schema import Settings
from config.sections import flatten_sections
from domain.alerts import Alert
from domain.clock import Clock
from domain.mode import Mode
from domain.session import EASTERN, ExpirySession
from gateways.audit.durable import DurableAuditLog
from gateways.audit.factory import open_sqlite
from gateways.ib import IBBroker
from gateways.metrics import Metrics
from gateways.ports import PriceSource
from gateways.sim_market import SimulatedMarket, SpotScript
from runtime.app import build_app
from runtime.clock import VirtualClock
from runtime.ib_wiring import ib_gateways
from runtime.service import Service
from tests.fakes.ib_gateway import FakeIBGateway, GatewayScript
from tests.fakes.ib_gateway.harness import settings_for

DAY = date(2026, 11, 25)
CLOSE = datetime(2026, 11, 25, 16, 0, tzinfo=EASTERN)
SESSION = ExpirySession(DAY, CLOSE, CLOSE)
CALL = "SPY 20261125 638C"
SHORT_PUT = "SPY 20261125 641P"

# The order machinery these trees exercise (lagging reads, refused changes, failover, the breaker) starts at
# T-5 on long calls, which the seed's rules close there; the side-aware rules, which sell longs from T-2 and
# lapse the rest, have tests of their own. A test passes ``lapse_longs=True`` (or any key) to override.
SEED_FILE = Path(__file__).resolve().parents[2] / "config" / "seed.toml"
SEED_RULES = flatten_sections(tomllib.loads(SEED_FILE.read_text()), f"file {SEED_FILE}")

PricesFactory = Callable[[Settings, IBBroker, Clock, Callable[[Alert], None]], PriceSource]


class Alerts:
    def __init__(self) -> None:
        self.sent: list[Alert] = []

    def close(self, timeout: float = 5.0) -> None:
        """Nothing queued: each alert was kept as it was sent."""

    def send(self, alert: Alert) -> None:
        self.sent.append(alert)


def simulated_prices(settings: Settings, broker: IBBroker, clock: Clock, alert: Callable[[Alert], None]) -> PriceSource:
    return SimulatedMarket(SpotScript(641.0, vol=0.01, seed=1), SESSION, clock, clock.now())


def run_tree(tmp_path, script: GatewayScript, *, start: datetime, seconds: int, mode: Mode = Mode.ACTIVE,
             until: Callable[[FakeIBGateway, Service], bool] | None = None, pause: float = 0.02,
             step: Callable[[datetime], float] = lambda now: 1, clock: VirtualClock | None = None,
             prices: PricesFactory = simulated_prices, alerts: Alerts | None = None,
             session: ExpirySession = SESSION, previous: ExpirySession | None = None,
             **settings_changes: object) -> tuple[FakeIBGateway, Service]:
    """Tick the tree over the fake gateway from ``start`` for ``seconds`` of virtual time, ``step(now)`` apart.

    ``until`` ends the run early; ``prices`` builds the price source (the simulated market by default);
    ``session`` is the one guarded (the calendar's facts, such as the dividends going ex next).
    """
    settings_changes = {"price_source": "ib", **SEED_RULES, **settings_changes}
    alerts = alerts or Alerts()
    with FakeIBGateway(script) as gateway:
        settings = settings_for(gateway, mode=mode.value, data_dir=str(tmp_path), **settings_changes)
        clock = clock or VirtualClock(start)
        virtual = clock
        gateway.use_clock(lambda: virtual.now().timestamp())  # fills, lagging reads: on the service's time
        metrics = Metrics(process_collectors=False)
        gateways = ib_gateways(settings, clock, metrics, alerts, prices=prices)  # wired as `run` wires it

        def connect(broker):
            gateways.connect(broker)
            gateway.mark()  # what follows is the tree's own use of the API, not the connect and reconciliation

        audit = DurableAuditLog(tmp_path / "spool", lambda: audit_store(tmp_path))
        with build_app(settings, clock, session, replace(gateways, connect=connect), alerts, audit, metrics,
                       previous=previous) as app:
            service = app.service
            end = start + timedelta(seconds=seconds)
            while clock.now() < end:
                service.tick_in_order()
                time.sleep(pause)  # broker events arrive on the ib_async thread
                service.sync()
                if until and until(gateway, service):
                    break
                clock.advance(step(clock.now()))
        return gateway, service


def audit_store(tmp_path):
    store = open_sqlite(tmp_path / "audit.sqlite3")
    store.migrate()
    return store


def audited(tmp_path):
    return audit_store(tmp_path).actions(CLOSE.replace(hour=9), CLOSE.replace(hour=17))


def audited_fills(tmp_path):
    """Executions: fill records with contracts (a commission IB reports after its fill has its own, of none)."""
    return [a for a in audited(tmp_path) if a.action.value == "fill"]


def audited_commission(tmp_path) -> float:
    return round(sum(a.details.get("commission", 0.0) for a in audited(tmp_path)
                 if a.action.value in ("fill", "commission")), 4)


def placed(gateway: FakeIBGateway):
    return gateway.orders_sent()
