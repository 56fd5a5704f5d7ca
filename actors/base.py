"""The base of every actor: answers pings, reports its crash to the supervisor with its inbox."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pykka

from actors.context import ActorContext, Roles
from domain.alerts import Alert
from domain.audit import ActionRecord, AssessmentRecord
from domain.messages import InjectCrash, Ping, Tick
from supervisor import salvage_inbox

log = logging.getLogger("cleanup.actors")

# Production ticks every second without waiting. An actor stuck behind a slow call (a Terminal or
# IB Gateway timing out) would otherwise find ticks queued, each deciding for an ever older "now".
MAX_TICK_LAG_SECONDS = 1.0




class InjectedCrash(RuntimeError):
    """Raised by an actor on an ``InjectCrash`` message, so the supervisor sees a real crash."""


class SupervisedActor(pykka.ThreadingActor):
    role: ClassVar[str]

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__()
        self.ctx = ctx
        self._late_ticks = 0  # ticks dropped in the current slow spell

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Ping):
            return True
        if isinstance(message, InjectCrash):
            raise InjectedCrash(message.reason)
        if isinstance(message, Tick):
            if self._tick_lag(message) > MAX_TICK_LAG_SECONDS:
                self._drop_late(message)
                return None
            result = self.handle(message)
            self._caught_up(message)
            return result
        return self.handle(message)

    def _tick_lag(self, tick: Tick) -> float:
        return (self.ctx.clock.now() - tick.now).total_seconds()

    def _drop_late(self, tick: Tick) -> None:
        if not self._late_ticks:  # once per slow spell, not once per tick
            log.warning("%s: dropping ticks queued behind slow work (this one %.1f s late)", self.role,
                        self._tick_lag(tick))
        self._late_ticks += 1

    def _caught_up(self, tick: Tick) -> None:
        """A slow spell ends with a tick handled within the lag."""
        if self._late_ticks and self._tick_lag(tick) <= MAX_TICK_LAG_SECONDS:
            log.info("%s: on time again after dropping %d late tick(s)", self.role, self._late_ticks)
            self._late_ticks = 0

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
