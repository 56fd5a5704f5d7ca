"""Production ticking (Service.tick, no barriers) with a price source that hangs on every poll.

The service tells each ticked actor a Tick every second without waiting. A PriceFeed poll that takes
longer than a second (a Terminal timing out) must not leave ticks queued behind it, each deciding
for an ever older "now": every decision is made on a "now" at most ~1 s plus the poll's duration old.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from actors.base import MAX_TICK_LAG_SECONDS
from actors.context import Roles
from config.loader import load_settings
from domain.messages import MarketUpdate
from domain.model import OptionContract, Position, Quote, Right
from domain.session import EASTERN, ExpirySession
from gateways.audit.durable import DurableAuditLog
from gateways.audit.factory import open_store
from gateways.metrics import Metrics
from gateways.paper_broker import PaperBroker
from gateways.sim_market import SimulatedMarket, SpotScript
from runtime.app import Gateways, build_app
from runtime.clock import VirtualClock
from tests.support.ib_tree import Alerts

REAL_SECONDS_PER_TICK = 0.2  # the virtual clock runs 5x real time, one tick per virtual second
HANG = 2.5  # virtual seconds each poll takes: the ThetaData timeout, then the IB read
TICKS = 20
START = datetime(2026, 11, 25, 15, 40, tzinfo=EASTERN)
CLOSE = datetime(2026, 11, 25, 16, 0, tzinfo=EASTERN)


class HangingSource:
    name = "sim"

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock

    def underlying_quote(self, symbol: str) -> Quote:
        time.sleep(HANG * REAL_SECONDS_PER_TICK)  # the real wait of a request timing out
        return Quote(symbol, 635.99, 636.01, None, self.clock.now(), self.name)

    def option_quotes(self, contracts):
        return {}


def test_a_hanging_source_never_makes_decisions_on_an_old_now(tmp_path, caplog):
    settings = load_settings(flags={"mode": "monitor", "data_dir": str(tmp_path), "price_source": "sim",
                                    "metrics_port": 0, "log_dir": str(tmp_path / "logs")}, environ={}).settings
    clock = VirtualClock(START)
    session = ExpirySession(START.date(), CLOSE, CLOSE)
    market = SimulatedMarket(SpotScript(636.0), session, clock, clock.now())
    broker = PaperBroker(market, clock, [Position(OptionContract("SPY", Right.CALL, 640.0, session.day), 1, 1.0)])
    audit = DurableAuditLog(tmp_path / "spool", lambda: _store(settings))
    lags: list[float] = []
    gateways = Gateways.ready(broker, HangingSource(clock))
    with build_app(settings, clock, session, gateways, Alerts(), audit, Metrics(process_collectors=False)) as app:
        service = app.service
        tell = service.registry.tell

        def timed_tell(role, message):  # the assessor decides on message.at as soon as it arrives
            if role == Roles.RISK_ASSESSOR and isinstance(message, MarketUpdate):
                lags.append((clock.now() - message.at).total_seconds())
            tell(role, message)

        service.registry.tell = timed_tell  # type: ignore[method-assign]  # before the first tick: no price yet
        with caplog.at_level(logging.INFO, logger="cleanup.feed"):
            for _ in range(TICKS):
                service.tick()
                time.sleep(REAL_SECONDS_PER_TICK)
                clock.advance(1.0)
    assert len(lags) >= TICKS * REAL_SECONDS_PER_TICK / (HANG * REAL_SECONDS_PER_TICK) - 2
    slack = 1.0  # a virtual second is 0.2 s of real time here: scheduling jitter on shared cores
    assert max(lags) <= MAX_TICK_LAG_SECONDS + HANG + slack, lags
    dropping = [r for r in caplog.records if "dropping ticks" in r.getMessage()]
    assert len(dropping) == 1  # logged once for the whole hang, not once a tick


def _store(settings):
    store = open_store(settings)
    store.migrate()
    return store
