"""LapseDesk: sends the lapse instructions the session's settlement asks for, and says how each went.

A lapse is no order: nothing fills, IB confirms nothing but a refusal, and the proof is the next
day's positions. So every instruction is audited and alerted once, refused ones critically with what
the trader can still do, and one IB could not be reached for is tried again each tick until the
cut-off. What was sent is kept by the supervisor, so a restarted desk never sends it twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from actors.base import SupervisedActor
from actors.context import ActorContext, Roles
from domain import alerts
from domain.audit import ActionKind, ActionRecord, action_id_for
from domain.lapse import Lapse, cutoff_text, lapse_cutoff
from domain.messages import LapseRequest, Tick
from domain.mode import Mode
from domain.model import OptionContract
from domain.stages import Stage
from gateways.broker import BrokerError, BrokerUnavailable, LapseResult, LapseStatus
from gateways.ports import Broker


@dataclass
class LapseDeskState:
    sent: dict[OptionContract, int] = field(default_factory=dict)  # contracts lapsed (or sent unconfirmed)
    pending: list[Lapse] = field(default_factory=list)  # waiting for IB to be reachable
    given_up: set[OptionContract] = field(default_factory=set)  # refused or too late: alerted once
    waiting: set[OptionContract] = field(default_factory=set)  # "not sent, retried" recorded once

    def copy(self) -> LapseDeskState:
        return LapseDeskState(dict(self.sent), list(self.pending), set(self.given_up), set(self.waiting))


class LapseDesk(SupervisedActor):
    role = Roles.LAPSE_DESK

    def __init__(self, ctx: ActorContext, broker: Broker) -> None:
        super().__init__(ctx)
        self.broker = broker
        # A copy: a crash half-way through a message must not leave its half-done changes to the next desk.
        self.state: LapseDeskState = ctx.keeper.get(self.role, LapseDeskState()).copy()

    def handle(self, message: Any) -> Any:
        if isinstance(message, LapseRequest):
            for late in message.plan.too_late:
                self._give_up(late, message.at, f"the cut-off {cutoff_text(self.ctx.session)} has passed")
            self.state.pending += [lapse for lapse in message.plan.due if lapse.contract not in self.state.sent]
            self._send_pending(message.at)
        elif isinstance(message, Tick):
            self._send_pending(message.now)
        else:
            return super().handle(message)
        self.ctx.keeper.keep(self.role, self.state.copy())
        return None

    def _send_pending(self, now: datetime) -> None:
        pending, self.state.pending = self.state.pending, []
        for lapse in pending:
            if now >= lapse_cutoff(self.ctx.session):
                self._give_up(lapse, now, f"IB was not reachable before the cut-off {cutoff_text(self.ctx.session)}")
            elif self._may_send():
                self._send(lapse, now)
            else:
                self._record(lapse, now, None, "would lapse (monitor mode, or lapse_longs off): not sent")

    def _may_send(self) -> bool:
        config = self.ctx.config
        return config.settings.enabled and config.settings.lapse_longs and config.mode is not Mode.MONITOR

    def _send(self, lapse: Lapse, now: datetime) -> None:
        try:
            result = self.broker.lapse(lapse.contract, lapse.quantity)
        except BrokerUnavailable as error:
            self.state.pending.append(lapse)  # nothing was sent: again on the next tick
            if lapse.contract not in self.state.waiting:
                self.state.waiting.add(lapse.contract)
                self._record(lapse, now, False, f"not sent, retried until the cut-off: {error}")
            return
        except BrokerError as error:  # may have reached IB: never sent twice
            result = LapseResult(LapseStatus.UNCONFIRMED, str(error))
        if result.status is LapseStatus.REFUSED:
            self._give_up(lapse, now, result.message)
            return
        self.state.sent[lapse.contract] = self.state.sent.get(lapse.contract, 0) + lapse.quantity
        self._record(lapse, now, True, f"{result.status.value}{': ' + result.message if result.message else ''}")
        self.alert(alerts.lapse_sent(lapse.contract.key, lapse.quantity, result.status.value, result.message))

    def _give_up(self, lapse: Lapse, now: datetime, error: str) -> None:
        if lapse.contract in self.state.given_up:
            return
        self.state.given_up.add(lapse.contract)
        self._record(lapse, now, False, error)
        self.alert(alerts.lapse_failed(lapse.contract.key, lapse.quantity, error, cutoff_text(self.ctx.session)))

    def _record(self, lapse: Lapse, now: datetime, success: bool | None, outcome: str) -> None:
        contract = lapse.contract
        self.audit(ActionRecord(
            action_id_for(f"lapse:{contract.key}:{now.isoformat()}:{outcome}"), now, ActionKind.LAPSE,
            symbol=contract.symbol, strike=contract.strike, expiry=contract.expiry, right=contract.right.value,
            quantity=lapse.quantity, account=self.ctx.account, mode=self.ctx.config.mode.value,
            stage=Stage.CLOSED.value, reason=lapse.reason, success=success,
            error=None if success else outcome, details={"price_at_close": lapse.closing_price, "outcome": outcome}))
