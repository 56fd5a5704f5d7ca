"""The real actor tree in monitor mode (paper broker, simulated market) around a given DurableAuditLog.

For tests of what the audit path does to the rest of the service: the store hangs or is down, and
the tree must go on (watchdog pings, records spooled, alerts through the Notifier).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from actors.context import Roles
from config.loader import load_settings
from domain.audit import ActionKind, ActionRecord
from domain.session import EASTERN, ExpirySession
from gateways.audit.durable import DurableAuditLog
from gateways.metrics import Metrics
from gateways.paper_broker import PaperBroker
from gateways.sim_market import SimulatedMarket, SpotScript
from runtime.clock import VirtualClock
from runtime.service import Service
from tests.support.ib_tree import Alerts

START = datetime(2026, 11, 25, 15, 40, tzinfo=EASTERN)
CLOSE = datetime(2026, 11, 25, 16, 0, tzinfo=EASTERN)


@contextlib.contextmanager
def audit_tree(tmp_path: Path, audit: DurableAuditLog, **settings: Any) -> Iterator[tuple[Service, Alerts]]:
    flags = {"mode": "monitor", "data_dir": str(tmp_path / "data"), "price_source": "sim", "metrics_port": 0,
             "log_dir": str(tmp_path / "logs"), **settings}
    config = load_settings(flags=flags, environ={}).settings
    clock = VirtualClock(START)
    session = ExpirySession(START.date(), CLOSE, CLOSE)
    market = SimulatedMarket(SpotScript(636.0), session, clock, clock.now())
    alerts = Alerts()
    service = Service(config, clock, session, PaperBroker(market, clock, []), market, alerts, audit,
                      Metrics(process_collectors=False), account="DU1")
    service.start()
    try:
        yield service, alerts
    finally:
        service.stop()


def command_record(number: int, at: datetime, text: str = "status") -> ActionRecord:
    """What the control socket audits for a command (its text comes from a client, byte for byte)."""
    return ActionRecord(action_id=f"cmd-{number:06d}", at=at, action=ActionKind.COMMAND, reason=text,
                        success=True, details={"command": text, "who": "root(uid 0)"})


def tell_audit(service: Service, record: ActionRecord) -> None:
    service.registry.tell(Roles.AUDIT_LOGGER, record)
