"""CircuitBreaker: more than N failures within the window closes the trading gate until a reset."""

from __future__ import annotations

from typing import Any

from actors.base import SupervisedActor
from actors.context import ActorContext, Roles
from domain import alerts
from domain.audit import ActionKind, ActionRecord, new_action_id
from domain.breaker import BreakerState, record_failure, record_order
from domain.messages import Failure, OrderSent, ResetBreaker

GATE_CAUSE = "circuit breaker"




class CircuitBreaker(SupervisedActor):
    role = Roles.CIRCUIT_BREAKER

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        self.state: BreakerState = ctx.keeper.get(self.role, BreakerState())

    def handle(self, message: Any) -> Any:
        if isinstance(message, Failure):
            return self.failure(message)
        if isinstance(message, OrderSent):
            self.state = record_order(self.state, message.at, self.ctx.config.settings.breaker_window_seconds)
            self._keep()
            return None
        if isinstance(message, ResetBreaker):
            self.state = BreakerState()
            self.ctx.gate.open(GATE_CAUSE)
            self.ctx.metrics.set_breaker_open(False)
            self._keep()
            return True
        return super().handle(message)

    def failure(self, failure: Failure) -> bool:
        """Record one failure; returns whether order flow is halted. Asked, so the caller knows at once."""
        settings = self.ctx.config.settings
        was_tripped = self.state.tripped
        self.state = record_failure(self.state, failure.at, failure.source, settings.breaker_max_failures,
                                    settings.breaker_window_seconds, settings.breaker_min_failure_ratio)
        self._keep()
        if self.state.tripped and not was_tripped:
            self.ctx.gate.close(GATE_CAUSE, self.state.reason)
            self.ctx.metrics.set_breaker_open(True)
            self.alert(alerts.breaker_tripped(len(self.state.failures), settings.breaker_window_seconds,
                                              failure.reason))
            self.audit(ActionRecord(new_action_id(), failure.at, ActionKind.BREAKER, symbol=settings.symbol,
                                    mode=self.ctx.config.mode.value, reason=self.state.reason,
                                    success=False, error=failure.reason))
        return self.state.tripped

    def _keep(self) -> None:
        self.ctx.keeper.keep(self.role, self.state)
