"""The simulated next morning (``simulate --through-next-open``): the paper broker has settled the session and
delivered the shares; the virtual clock jumps to 04:00 ET of the calendar's next session, and a new tree (as the
timer starts a new process in production) runs the morning check of the expiration and, with
``dispose_assignments = close``, the disposal at the 09:30 open, on the same run's audit trail.

The hours between the check and the open are skipped in one jump (nothing is due in them); the minutes after
the open are ticked second by second, as the disposal's walk needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from config.schema import Settings
from domain.session import EASTERN, MARKET_OPEN_ET, ExpirySession
from gateways.audit.durable import DurableAuditLog
from gateways.calendar import MarketCalendar
from gateways.metrics import Metrics
from gateways.paper_broker import PaperBroker
from gateways.sim_market import SimulatedMarket
from runtime.app import Gateways, build_app
from runtime.clock import VirtualClock
from runtime.service import Service
from runtime.service_window import SERVICE_START_ET

STEP_SECONDS = 1.0
CHECK_SECONDS = 120  # ticked from 04:00 ET: the broker connects, the check reads and reports
BEFORE_OPEN = timedelta(seconds=30)  # the jump lands this long before the open
AFTER_OPEN = timedelta(minutes=5)  # ticked after the open: a disposal's walk to market takes well under it


@dataclass(frozen=True)
class Morning:
    day: date
    started: datetime
    ended: datetime
    restarts: dict[str, int]
    escalated: str = ""


def run_next_morning(settings: Settings, expiry: ExpirySession, clock: VirtualClock, broker: PaperBroker,
                     market: SimulatedMarket, sender, audit_log: DurableAuditLog, metrics: Metrics) -> Morning:
    """The morning after ``expiry``'s bell: the broker must have settled it already."""
    session = MarketCalendar(dividends=settings.dividend_schedule).next_session(expiry.day + timedelta(days=1))
    start = datetime.combine(session.day, SERVICE_START_ET, tzinfo=EASTERN)
    clock.advance((start - clock.now()).total_seconds())
    with build_app(settings, clock, session, Gateways.ready(broker, market), sender, audit_log, metrics,
                   previous=expiry, finish_audit=False) as app:
        service = app.service
        _tick(service, broker, clock, start + timedelta(seconds=CHECK_SECONDS))
        if settings.dispose_assignments == "close":
            open_at = datetime.combine(session.day, MARKET_OPEN_ET, tzinfo=EASTERN)
            clock.advance((open_at - BEFORE_OPEN - clock.now()).total_seconds())
            _tick(service, broker, clock, open_at + AFTER_OPEN)
        service.sync()
        escalated = service.supervisor.escalation_reason
        restarts = dict(service.supervisor.restarts)
    return Morning(session.day, start, clock.now(), restarts, escalated)


def _tick(service: Service, broker: PaperBroker, clock: VirtualClock, until: datetime) -> None:
    while clock.now() < until and not service.escalated:
        broker.process(clock.now())
        service.tick_in_order()
        clock.advance(STEP_SECONDS)
