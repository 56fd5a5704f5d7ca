"""A restart never sells twice: the disposal's order ref is one per expiration and symbol, so a new process on the
same broker follows the order still working instead of sending another, and after a fill finds nothing delivered
left to sell. Through the actor tree over the paper broker."""

from __future__ import annotations

from datetime import datetime, timedelta

from config.loader import load_settings
from domain.audit import ActionKind
from domain.evening import EveningRecord
from domain.model import OptionContract, Position, Right, StockPosition
from domain.session import EASTERN
from gateways.audit.durable import DurableAuditLog
from gateways.calendar import MarketCalendar
from gateways.metrics import Metrics
from gateways.paper_broker import PaperBroker
from gateways.sim_market import SimulatedMarket, SpotScript
from runtime.app import Gateways, build_app
from runtime.clock import VirtualClock
from tests.support.ib_tree import CLOSE, SESSION, Alerts, audit_store

MORNING = MarketCalendar().session(datetime(2026, 11, 27).date())
OPEN = datetime(2026, 11, 27, 9, 30, tzinfo=EASTERN)


def _assigned_broker(clock: VirtualClock) -> tuple[PaperBroker, SimulatedMarket]:
    """The 645P short assigned at the close: 200 SPY delivered on top of the trader's 100."""
    market = SimulatedMarket(SpotScript(641.0, vol=0.0001, seed=1), SESSION, clock, clock.now())
    put = Position(OptionContract("SPY", Right.PUT, 645.0, SESSION.day), -2, 4.1)
    broker = PaperBroker(market, clock, [put], stock=[StockPosition("SPY", 100, 600.0)])
    clock.advance((CLOSE - clock.now()).total_seconds())
    broker.settle()
    return broker, market


def _process(tmp_path, clock, broker, market, seconds: int) -> None:
    """One process of the service on the morning, ticked ``seconds`` virtual seconds."""
    _process_with(tmp_path, clock, broker, market, seconds)


def _setup(tmp_path):
    clock = VirtualClock(CLOSE - timedelta(minutes=1))
    broker, market = _assigned_broker(clock)
    store = audit_store(tmp_path)
    store.insert_evenings([EveningRecord(SESSION.day, CLOSE + timedelta(seconds=30),
                                         (Position(OptionContract("SPY", Right.PUT, 645.0, SESSION.day), -2, 4.1),),
                                         (StockPosition("SPY", 100, 600.0),), {"SPY": 641.0})])
    store.close()
    clock.advance((OPEN - timedelta(seconds=5) - clock.now()).total_seconds())
    return clock, broker, market


def test_a_restart_while_the_disposal_works_follows_it_and_sends_no_second(tmp_path):
    clock, broker, market = _setup(tmp_path)
    broker.inject_no_fills(600)  # the order rests through the first process and its restart
    _process(tmp_path, clock, broker, market, 10)
    assert [(r.side.value, r.shares) for r in broker.placed_stock] == [("SELL", 200)]
    _process(tmp_path, clock, broker, market, 10)  # a new process, the same morning
    assert len(broker.placed_stock) == 1
    reasons = [r.reason for r in audit_store(tmp_path).actions(OPEN - timedelta(hours=6), OPEN + timedelta(hours=1))
               if r.action is ActionKind.DISPOSAL]
    assert any("already sent: followed, not sent again" in reason for reason in reasons)


def test_a_restart_after_the_fill_finds_nothing_left_to_sell(tmp_path):
    clock, broker, market = _setup(tmp_path)
    _process(tmp_path, clock, broker, market, 15)
    assert [s.shares for s in broker.stock_positions()] == [100]  # the trader's own are left
    _process(tmp_path, clock, broker, market, 15)
    assert len(broker.placed_stock) == 1
    assert [s.shares for s in broker.stock_positions()] == [100]


def test_monitor_mode_holds_the_disposal_back_and_says_so_once(tmp_path):
    clock, broker, market = _setup(tmp_path)
    _process_with(tmp_path, clock, broker, market, 10, mode="monitor")
    assert broker.placed_stock == []
    held = [r for r in audit_store(tmp_path).actions(OPEN - timedelta(hours=6), OPEN + timedelta(hours=1))
            if r.action is ActionKind.DISPOSAL]
    assert len(held) == 1 and "not sent: monitor mode" in held[0].reason


def _process_with(tmp_path, clock, broker, market, seconds, **flags):
    settings = load_settings(flags={"mode": "active", "data_dir": str(tmp_path), "price_source": "sim",
                                    "metrics_port": 0, "log_dir": str(tmp_path / "logs"),
                                    "dispose_assignments": "close", **flags}, environ={}).settings
    audit = DurableAuditLog(tmp_path / "spool", lambda: audit_store(tmp_path), deliver_in_background=False)
    assert MORNING is not None
    with build_app(settings, clock, MORNING, Gateways.ready(broker, market), Alerts(), audit,
                   Metrics(process_collectors=False), previous=SESSION) as app:
        for _ in range(seconds):
            broker.process(clock.now())
            app.service.tick_in_order()
            clock.advance(1.0)
