"""AssignmentDesk: the evening record after the bell, and the next morning's check of what it left in the account.

Evening: once the session settled (the RiskAssessor's ``SessionSettled``), it reads the shares the account holds
and writes the evening record (domain.evening) through the durable audit spool, so the morning's process, a new
one after the 17:30 ET exit (and perhaps a weekend), finds it. Morning: in the run of the next session day, once
the broker is connected, it reads that record and today's positions, asks domain.assignments what was exercised
or assigned and what shares that delivered, audits it (SETTLEMENT per vanished option, DELIVERY per underlying,
one MORNING_CHECK), and alerts with the exposure and margin (``dispose_assignments`` alert or close). Options
the broker still lists (IB not done with the night's processing) are looked at again every few minutes until
the open. Audit ids derive from the session, so a restarted process repeating the check records it once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from actors import disposal
from actors.base import SupervisedActor
from actors.context import ActorContext, Roles
from actors.disposal import Disposal
from domain import alerts
from domain.assignments import REG_T_INITIAL_MARGIN, MorningCheck, detect
from domain.audit import ActionKind, ActionRecord, action_id_for
from domain.evening import EveningRecord
from domain.messages import SessionSettled, Tick
from domain.mode import Mode
from domain.session import EASTERN, MARKET_OPEN_ET, ExpirySession
from gateways.audit.protocol import StoreUnavailable
from gateways.broker import BrokerError
from gateways.ports import Broker, PriceSource

log = logging.getLogger("cleanup.morning")

STAGE = "morning"
RETRY = timedelta(seconds=60)  # the broker or the store was not there: try again this much later
STILL_LISTED_RETRY = timedelta(minutes=5)  # IB still lists expired options: its night's processing is not done
MARGIN_RULE = f"Reg T initial, {REG_T_INITIAL_MARGIN:.0%} of the value"

EveningReader = Callable[[date], EveningRecord | None]


@dataclass(frozen=True)
class DeskState:
    evening: SessionSettled | None = None  # settled, its record not written yet (the broker was away)
    recorded: bool = False
    checked: MorningCheck | None = None  # the morning check, once final
    no_record: bool = False  # the check found no evening record (said once)
    next_attempt: datetime | None = None
    disposals: dict[str, Disposal] = field(default_factory=dict)  # by underlying (dispose_assignments = close)


class AssignmentDesk(SupervisedActor):
    role = Roles.ASSIGNMENT_DESK

    def __init__(self, ctx: ActorContext, broker: Broker, source: PriceSource, read_evening: EveningReader,
                 previous: ExpirySession | None) -> None:
        super().__init__(ctx)
        self.broker = broker
        self.source = source
        self.read_evening = read_evening
        self.previous = previous  # the session whose expiration this morning's check looks at; None: no check
        self.state: DeskState = ctx.keeper.get(self.role, DeskState())

    def handle(self, message: Any) -> Any:
        if isinstance(message, SessionSettled):
            self._keep(replace(self.state, evening=message, recorded=False))
            self._record_evening(message.at)
        elif isinstance(message, Tick):
            self._record_evening(message.now)
            self._morning(message.now)
            self._dispose(message.now)
        else:
            return super().handle(message)
        return None

    def _keep(self, state: DeskState) -> None:
        self.state = state
        self.ctx.keeper.keep(self.role, state)

    # --- evening ----------------------------------------------------------------------------------
    def _record_evening(self, now: datetime) -> None:
        settled = self.state.evening
        if settled is None or self.state.recorded:
            return
        try:
            stock = tuple(self.broker.stock_positions())
        except BrokerError as error:
            log.warning("evening record of %s not taken yet (stock positions not read: %s); retrying",
                        self.ctx.session.day, error)
            return
        self.send(Roles.AUDIT_LOGGER, EveningRecord(self.ctx.session.day, now, settled.still_open, stock,
                                                    dict(settled.closing_prices), account=self.ctx.account))
        self._keep(replace(self.state, recorded=True))

    # --- morning ----------------------------------------------------------------------------------
    def _morning(self, now: datetime) -> None:
        state = self.state
        if self.previous is None or state.checked is not None or state.no_record:
            return
        if state.next_attempt is not None and now < state.next_attempt:
            return
        if self.broker.connected_since() is None:
            return  # nothing to read yet; the connection watcher alerts on a gateway that stays away
        day = self.previous.day
        try:
            record = self.read_evening(day)
        except StoreUnavailable as error:
            log.warning("morning check of %s: the audit store is unavailable (%s); retrying in %d s", day, error,
                        RETRY.total_seconds())
            self._keep(replace(state, next_attempt=now + RETRY))
            return
        if record is None:
            self._no_record(day, now)
            return
        try:
            check = detect(record, self.broker.positions(), self.broker.stock_positions())
        except BrokerError as error:
            log.warning("morning check of %s: positions not read (%s); retrying", day, error)
            self._keep(replace(state, next_attempt=now + RETRY))
            return
        if check.still_held and now < self._open():
            log.info("morning check of %s: IB still lists %s; looking again in %d min", day,
                     ", ".join(p.contract.key for p in check.still_held), STILL_LISTED_RETRY.total_seconds() // 60)
            self._keep(replace(state, next_attempt=now + STILL_LISTED_RETRY))
            return
        self._report(check, now)
        self._keep(replace(self.state, checked=check, next_attempt=None))

    # --- disposal at the open (dispose_assignments = close) -----------------------------------------
    def _dispose(self, now: datetime) -> None:
        check, settings = self.state.checked, self.ctx.config.settings
        if check is None or settings.dispose_assignments != "close" or now < self._open():
            return
        ctx = disposal.Context(check.session_day, self.broker, self.source, self._why_not_trading,
                               settings.dispose_band, settings.max_attempts, settings.attempt_interval_seconds,
                               self.audit, self.alert, self._record)
        disposals = dict(self.state.disposals)
        for delivery in check.deliveries:
            disposals[delivery.symbol] = disposal.step(ctx, delivery, disposals.get(delivery.symbol), now)
        if disposals != self.state.disposals:
            self._keep(replace(self.state, disposals=disposals))

    def _why_not_trading(self) -> str:
        config = self.ctx.config
        if not config.settings.enabled or config.mode is Mode.MONITOR:
            return "monitor mode (or enabled = false) never trades"
        if not self.ctx.gate.is_open():
            return "trading halted: " + "; ".join(self.ctx.gate.reasons().values())
        return ""

    def _open(self) -> datetime:
        return datetime.combine(self.ctx.session.day, MARKET_OPEN_ET, tzinfo=EASTERN)

    def _no_record(self, day: date, now: datetime) -> None:
        self.audit(self._record(f"no-record:{day}", now, ActionKind.MORNING_CHECK, success=False,
                                reason=f"no evening record of the {day} session: deliveries cannot be told apart",
                                details={"session_day": day.isoformat()}))
        if self.ctx.config.settings.dispose_assignments != "off":
            self.alert(alerts.morning_no_record(day))
        self._keep(replace(self.state, no_record=True))

    def _report(self, check: MorningCheck, now: datetime) -> None:
        day = check.session_day
        for gone in check.vanished:
            contract = gone.position.contract
            price = "no closing price" if gone.closing_price is None else \
                f"{contract.symbol} {gone.closing_price:.2f} at the close"
            self.audit(self._record(
                f"vanished:{contract.key}", now, ActionKind.SETTLEMENT, symbol=contract.symbol,
                strike=contract.strike, expiry=contract.expiry, right=contract.right.value,
                quantity=gone.position.quantity, reason=f"{contract.key}: {gone.fate.value} overnight ({price})",
                details={"contracts_gone": gone.contracts, "fate": gone.fate.value, "check": STAGE}))
        for delivery in check.deliveries:
            self.audit(self._record(
                f"delivery:{delivery.symbol}", now, ActionKind.DELIVERY, symbol=delivery.symbol,
                quantity=delivery.attributed, reference_mid=delivery.price,
                reason=f"{delivery.attributed:+d} {delivery.symbol} shares from the {day} expiration",
                details={"shares_before": delivery.shares_before, "shares_now": delivery.shares_now,
                         "exposure": delivery.exposure, "margin": delivery.margin, "margin_rule": MARGIN_RULE}))
        self.audit(self._record(
            "summary", now, ActionKind.MORNING_CHECK, success=True, reason=_summary(check),
            details={"session_day": day.isoformat(), "vanished": len(check.vanished),
                     "delivered": {d.symbol: d.attributed for d in check.deliveries},
                     "exposure": check.exposure, "margin": check.margin, "margin_rule": MARGIN_RULE,
                     "still_listed": [p.contract.key for p in check.still_held],
                     "dispose_assignments": self.ctx.config.settings.dispose_assignments}))
        self._alert(check)

    def _alert(self, check: MorningCheck) -> None:
        disposal = self.ctx.config.settings.dispose_assignments
        if disposal == "off" or not (check.vanished or check.still_held):
            return
        still = [p.contract.key for p in check.still_held]
        if not check.deliveries:
            self.alert(alerts.morning_nothing_delivered(check.session_day, len(check.vanished), still))
            return
        delivered = [alerts.DeliveredShares(d.symbol, d.attributed, d.exposure, d.margin) for d in check.deliveries]
        why_not = self._why_not_trading()
        if disposal == "close" and not why_not:
            next_step = "They will be flattened at the 09:30 ET open (dispose_assignments = close)."
        elif disposal == "close":
            next_step = f"dispose_assignments = close, but nothing is sent now ({why_not}): sell or keep them yourself."
        else:
            next_step = "Sell or keep them yourself; dispose_assignments = close flattens them at the open."
        self.alert(alerts.morning_delivery(check.session_day, delivered, MARGIN_RULE, next_step, still))

    def _record(self, what: str, now: datetime, kind: ActionKind, **fields: Any) -> ActionRecord:
        assert self.previous is not None
        return ActionRecord(action_id_for(f"morning:{self.previous.day}:{what}"), now, kind, account=self.ctx.account,
                            mode=self.ctx.config.mode.value, stage=STAGE, **fields)


def _summary(check: MorningCheck) -> str:
    day = check.session_day
    if not check.deliveries:
        return f"{day} expiration: {len(check.vanished)} option position(s) gone, no shares delivered"
    shares = ", ".join(f"{d.attributed:+d} {d.symbol}" for d in check.deliveries)
    return (f"{day} expiration delivered {shares}: exposure ${check.exposure:,.0f}, "
            f"margin ${check.margin:,.0f} ({MARGIN_RULE})")
