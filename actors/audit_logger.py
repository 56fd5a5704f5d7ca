"""AuditLogger: every action and sampled assessment to the durable spool; the courier takes it to the store.

A record is appended (fsync'd) before anything else is done with it, and nothing here waits for the
database: on each tick the actor only wakes the courier (gateways.audit.courier) and looks at the
spool. So a slow, down or hung database never slows this actor, its watchdog pings, or the actors on
the trading path (they only ``tell`` it). How long the oldest record has waited pages an outage.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from actors.base import SupervisedActor
from actors.context import ActorContext, Roles
from domain.audit import ActionRecord, AssessmentRecord
from domain.audit_outage import AuditOutage, SpoolView, observe
from domain.evening import EveningRecord
from domain.messages import Tick
from gateways.ports import AuditTrail

actions_log = logging.getLogger("cleanup.actions")
risk_log = logging.getLogger("cleanup.risk")


class AuditLogger(SupervisedActor):
    role = Roles.AUDIT_LOGGER

    def __init__(self, ctx: ActorContext, durable: AuditTrail) -> None:
        super().__init__(ctx)
        self.durable = durable
        self.outage: AuditOutage = ctx.keeper.get(self.role, AuditOutage())  # a restart must not page twice

    def handle(self, message: Any) -> Any:
        if isinstance(message, ActionRecord):
            self.durable.append(message)
            actions_log.info("%s %s %s qty=%s price=%s success=%s %s", message.action.value,
                             _contract(message), message.stage, message.quantity, message.execution_price,
                             message.success, message.reason or message.error or "")
        elif isinstance(message, AssessmentRecord):
            self.durable.append(message)
            risk_log.info("%s qty=%d spot=%.2f moneyness=%+.4f risk=%.3f p_itm=%.3f %s %s %s",
                          message.contract_key, message.quantity, message.spot, message.moneyness,
                          message.risk_score, message.probability_itm, message.level, message.stage,
                          message.action)
        elif isinstance(message, EveningRecord):
            self.durable.append(message)
            actions_log.info("evening record %s: %d expiring option position(s) open, %d stock position(s) held",
                             message.session_day, len(message.options), len(message.stock))
        elif isinstance(message, Tick):
            self.flush(message.now)
        else:
            return super().handle(message)
        return None

    def flush(self, now: datetime) -> None:
        """Wake the courier, export the backlog and its age, and page an outage (once) or its end."""
        self.durable.deliver_soon()
        view = SpoolView(self.durable.oldest_unsent(), self.durable.backlog(), str(self.durable.spool_directory),
                         self.durable.last_error)
        minutes = self.ctx.config.settings.audit_outage_minutes
        self.ctx.metrics.set_audit_backlog(view.backlog)
        self.ctx.metrics.set_audit_oldest_unsent(view.oldest_unsent)
        self.ctx.metrics.set_audit_outage_threshold(minutes * 60)
        outage, alert = observe(self.outage, view, now, timedelta(minutes=minutes))
        if outage != self.outage:
            self.outage = outage
            self.ctx.keeper.keep(self.role, outage)
        if alert is not None:
            self.alert(alert)

    def backlog(self) -> int:
        return self.durable.backlog()


def _contract(record: ActionRecord) -> str:
    if record.strike is None:
        return record.symbol or "-"
    return f"{record.symbol} {record.expiry:%Y%m%d} {record.strike:g}{record.right or ''}"
