"""AuditLogger: every action and sampled assessment to the durable spool, then the store.

Appending is fsync'd before the message is done; the store write happens on ticks, so a slow or
absent database never slows the actors on the trading path.
"""

from __future__ import annotations

import logging
from typing import Any

from actors.base import SupervisedActor
from actors.context import ActorContext, Roles
from domain.audit import ActionRecord, AssessmentRecord
from domain.messages import Tick
from gateways.audit.durable import DurableAuditLog

actions_log = logging.getLogger("cleanup.actions")
risk_log = logging.getLogger("cleanup.risk")


class AuditLogger(SupervisedActor):
    role = Roles.AUDIT_LOGGER

    def __init__(self, ctx: ActorContext, durable: DurableAuditLog) -> None:
        super().__init__(ctx)
        self.durable = durable

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
        elif isinstance(message, Tick):
            self.flush()
        else:
            return super().handle(message)
        return None

    def flush(self) -> int:
        written = self.durable.drain()
        self.ctx.metrics.set_audit_backlog(self.durable.backlog())
        return written

    def backlog(self) -> int:
        return self.durable.backlog()


def _contract(record: ActionRecord) -> str:
    if record.strike is None:
        return record.symbol or "-"
    return f"{record.symbol} {record.expiry:%Y%m%d} {record.strike:g}{record.right or ''}"
