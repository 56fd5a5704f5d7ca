"""The base of every actor: answers pings, reports its crash to the supervisor with its inbox."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import pykka

from actors.context import ActorContext, Roles
from domain.alerts import Alert
from domain.audit import ActionRecord, AssessmentRecord
from domain.messages import Ping
from supervisor import salvage_inbox

log = logging.getLogger("cleanup.actors")


@dataclass(frozen=True)
class InjectCrash:
    """Fault injection (simulation scenarios, tests): the actor raises on receipt."""

    reason: str = "injected crash"


class InjectedCrash(RuntimeError):
    """Raised by an actor on an ``InjectCrash`` message, so the supervisor sees a real crash."""


class SupervisedActor(pykka.ThreadingActor):
    role: ClassVar[str]

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__()
        self.ctx = ctx

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Ping):
            return True
        if isinstance(message, InjectCrash):
            raise InjectedCrash(message.reason)
        return self.handle(message)

    def handle(self, message: Any) -> Any:
        raise TypeError(f"{self.role} does not handle {type(message).__name__}")

    def on_failure(self, exception_type: Any, exception_value: BaseException | None, traceback: Any) -> None:
        # Stop new sends reaching the dead inbox first, then salvage what is queued: pykka would
        # drop those tells, and the restarted actor must see them.
        self.ctx.registry.unregister(self.role)
        salvaged = salvage_inbox(self, self.role)
        self.ctx.report_failure(self.role, exception_value or RuntimeError("unknown failure"), salvaged)

    # --- sending, by role --------------------------------------------------------------------------
    def send(self, role: str, message: Any) -> None:
        self.ctx.registry.tell(role, message)

    def audit(self, record: ActionRecord | AssessmentRecord) -> None:
        self.send(Roles.AUDIT_LOGGER, record)

    def alert(self, alert: Alert) -> None:
        self.send(Roles.NOTIFIER, alert)
