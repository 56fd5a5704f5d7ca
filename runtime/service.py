"""The running service: the supervised actor tree around one broker and one price source.

``simulate`` and ``run`` both build a ``Service``; they differ only in the gateways and in who drives
the ticks (a virtual-time loop with barriers, or a wall-clock loop). The service is also the
``CommandTarget`` every control surface (ctl, Telegram, the terminal UI) acts on.
"""

from __future__ import annotations

import logging
from typing import Any

import pykka

from actors.assignment_desk import AssignmentDesk
from actors.audit_logger import AuditLogger
from actors.circuit_breaker import GATE_CAUSE, CircuitBreaker
from actors.context import ActorContext, LiveConfig, Roles
from actors.executor import Executor
from actors.lapse_desk import LapseDesk
from actors.notifier import Notifier
from actors.position_poller import PositionPoller
from actors.price_feed import PriceFeed
from actors.risk_assessor import AssessorState, RiskAssessor
from config.schema import Settings
from domain import alerts
from domain.audit import ActionKind, ActionRecord, new_action_id
from domain.clock import Clock
from domain.messages import (
    AssessorSnapshot,
    ForgiveFailures,
    InjectCrash,
    ManualClose,
    Ping,
    PollNow,
    ResetBreaker,
    StatusQuery,
    Tick,
)
from domain.mode import Mode
from domain.order_refs import is_cleanup_ref
from domain.session import ExpirySession
from domain.stages import Stage
from domain.structure_view import structure_status
from gateways.audit.durable import DurableAuditLog
from gateways.metrics import Metrics
from gateways.ports import AlertSender, Broker, PriceSource
from supervisor import ChildSpec, Registry, StateKeeper, Supervisor, TradingGate

log = logging.getLogger("cleanup.service")

KILL_CAUSE = "kill switch"
EXECUTOR_SHUTDOWN_SECONDS = 30.0
STATUS_ASK_SECONDS = 5.0  # under the control socket's and Telegram's own deadlines
READ_ONLY_CAUSE = "read-only API"
# Order of the pipeline: a barrier asks each in turn, so a tick's messages are handled in order.
PIPELINE = (Roles.PRICE_FEED, Roles.POSITION_POLLER, Roles.RISK_ASSESSOR, Roles.EXECUTOR, Roles.LAPSE_DESK,
            Roles.ASSIGNMENT_DESK, Roles.CIRCUIT_BREAKER, Roles.AUDIT_LOGGER, Roles.NOTIFIER)
TICKED = (Roles.POSITION_POLLER, Roles.PRICE_FEED, Roles.EXECUTOR, Roles.LAPSE_DESK, Roles.ASSIGNMENT_DESK,
          Roles.AUDIT_LOGGER)


class Service:
    def __init__(self, settings: Settings, clock: Clock, session: ExpirySession, broker: Broker,
                 source: PriceSource, sender: AlertSender, audit_log: DurableAuditLog, metrics: Metrics,
                 *, account: str = "", previous: ExpirySession | None = None) -> None:
        """``previous``: the session whose expiration the morning check looks at (None: no morning check)."""
        self.clock = clock
        self.session = session
        self.broker = broker
        self.config = LiveConfig(settings)
        self.registry = Registry()
        self.keeper = StateKeeper()
        self.gate = TradingGate()
        self.metrics = metrics
        self.audit_log = audit_log
        self.ctx = ActorContext(self.registry, self.keeper, self.gate, clock, self.config, session, metrics,
                                self._child_failed, account=account)
        ctx = self.ctx
        specs = [  # dependencies first: each child's downstream peers are up before it starts sending
            ChildSpec(Roles.AUDIT_LOGGER, lambda: AuditLogger.start(ctx, audit_log)),
            ChildSpec(Roles.NOTIFIER, lambda: Notifier.start(ctx, sender)),
            ChildSpec(Roles.CIRCUIT_BREAKER, lambda: CircuitBreaker.start(ctx)),
            # A batch of closes is paced at IB's message rate (500 orders: ~11 s): let it finish on a stop.
            ChildSpec(Roles.EXECUTOR, lambda: Executor.start(ctx, broker), shutdown_seconds=EXECUTOR_SHUTDOWN_SECONDS),
            ChildSpec(Roles.LAPSE_DESK, lambda: LapseDesk.start(ctx, broker)),
            ChildSpec(Roles.ASSIGNMENT_DESK, lambda: AssignmentDesk.start(ctx, broker, source, audit_log.evening,
                                                                          previous)),
            ChildSpec(Roles.RISK_ASSESSOR, lambda: RiskAssessor.start(ctx)),
            ChildSpec(Roles.POSITION_POLLER, lambda: PositionPoller.start(ctx, broker)),
            ChildSpec(Roles.PRICE_FEED, lambda: PriceFeed.start(ctx, source)),
        ]
        # one_for_one, on purpose: peers address each other by role through the Registry, which holds
        # messages while a role restarts, and each child's state is kept by role; so no peer holds
        # anything a restart invalidates. rest_for_one would restart the assessor, poller and feed after
        # an Executor crash: seconds without judgement in the last minutes, for nothing.
        self.supervisor = Supervisor(
            specs, self.registry, clock, max_restarts=settings.restart_max,
            window_seconds=settings.restart_window_seconds, strategy="one_for_one",
            on_restart=self._restarted, on_escalate=self._escalated)
        broker.set_event_handler(lambda event: self.registry.tell(Roles.EXECUTOR, event))

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        for spec in self.supervisor.specs:
            self.metrics.register_actor(spec.role)
        self.metrics.set_mode(self.config.mode)
        self.metrics.use_clock(self.clock)
        self.metrics.set_up(True)
        self.supervisor.start()

    def stop(self) -> None:
        self.supervisor.stop()
        self.metrics.set_up(False)

    def tick(self) -> None:
        """Production: every ticked actor gets the heartbeat at once and works concurrently."""
        tick = self._heartbeat()
        for role in TICKED:
            self.registry.tell(role, tick)

    def tick_in_order(self) -> None:
        """Simulation: one actor at a time, each tick's consequences settled before the next actor's.

        Concurrent ticks race (the poller's snapshot may reach the feed before or after the feed's own
        tick), which is harmless live but would make a simulated run differ from one run to the next.
        """
        tick = self._heartbeat()
        for role in TICKED:
            self.registry.tell(role, tick)
            self.sync()

    def _heartbeat(self) -> Tick:
        # Any broker, paper or IB, simulated outage or real: the gauge follows it once a second.
        self.metrics.set_broker_connected(self.broker.is_connected())
        return Tick(self.clock.now())

    def sync(self, rounds: int = 2) -> None:
        """Wait until the messages of this tick have been handled down the pipeline (simulation)."""
        for _ in range(rounds):
            self.supervisor.wait_idle()
            for role in PIPELINE:
                if self.supervisor.escalated.is_set():
                    return
                try:
                    self.registry.ask(role, Ping(), timeout=30)
                except pykka.ActorDeadError:
                    self.supervisor.wait_idle()

    def crash(self, role: str) -> None:
        self.registry.tell(role, InjectCrash(f"injected crash of {role}"))

    @property
    def escalated(self) -> bool:
        return self.supervisor.escalated.is_set()

    # --- CommandTarget ---------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        now = self.clock.now()
        state = self._assessor_snapshot()
        result = state.result if state else None
        at_risk = [
            {"contract": a.contract.key, "quantity": a.quantity, "underlying": a.contract.symbol, "spot": a.spot,
             "moneyness": a.moneyness, "probability_itm": a.probability_itm, "risk": a.level.value,
             "action": a.action.value, "closes_at": _stage_name(state.closes_at.get(a.contract) if state else None)}
            for a in (result.assessments if result else ())
        ]
        settings = self.config.settings
        held = {p.contract.symbol for p in state.book.effective_positions()} if state else set()
        spots = {symbol: quote for symbol, quote in (state.spots if state else {}).items()
                 if symbol == settings.symbol or symbol in held}
        primary = spots.get(settings.symbol)
        return {
            "mode": self.config.mode.value,
            "now": now.isoformat(),
            "stage": self.session.stage(now, settings.thresholds).value,
            "minutes_to_close": round(self.session.minutes_to_close(now), 2),
            "close": self.session.close.isoformat(),
            "kill_switch": self.gate.closed_by(KILL_CAUSE),
            "breaker_tripped": self.gate.closed_by(GATE_CAUSE),
            "trading_halted": not self.gate.is_open(),
            "broker_connected": self.broker.is_connected(),
            "price_source": state.source if state else "",
            "assessor_answered": state is not None,
            "quote_age_seconds": round(primary.age_seconds(now), 1) if primary else None,
            "positions": len(at_risk),
            "positions_at_risk": at_risk,
            # The multi-leg structures of the expiring positions: legs, net delivery, plan (domain.structure_view).
            "structures": [structure_status(a) for a in (result.structures if result else ())],
            "audit_backlog": self.audit_log.backlog(),
            "restarts": dict(self.supervisor.restarts),
            "thresholds": {"t30_moneyness": settings.t30_moneyness, "t5_moneyness": settings.t5_moneyness,
                           "t2_moneyness": settings.t2_moneyness, "max_slippage": settings.max_slippage},
            # For the terminal UI: the primary's price and every underlying's (mid falls back to last), the
            # action queue the stage instants and orders. Each position carries the price it was judged on.
            "symbol": settings.symbol,
            "spot": primary.mid if primary else None,
            "spots": {symbol: quote.mid for symbol, quote in spots.items()},
            "spot_ages_seconds": {symbol: round(quote.age_seconds(now), 1) for symbol, quote in spots.items()},
            "unwatched": [p.contract.key for p in (result.unwatched if result else ())],
            "trader_tz": settings.trader_tz,
            "stage_times": {stage.value: at.isoformat()
                            for stage, at in self.session.stage_instants(settings.thresholds).items()},
            "working_orders": [
                {"order_id": o.order_id, "contract": o.contract.key, "side": o.side.value,
                 "type": o.order_type.value, "quantity": o.quantity, "filled": o.filled,
                 "limit": o.limit_price, "stop": o.stop_price, "cleanup": is_cleanup_ref(o.order_ref)}
                for o in (state.book.working_orders() if state else ())
            ],
        }

    def _assessor_snapshot(self) -> AssessorSnapshot | None:
        """Asked, not read from its kept state: the assessor changes that on its own thread meanwhile.
        None while it restarts or is too busy to answer within the status deadline. Once the tree has
        stopped nobody changes it, so the last kept state is read (what the service ended with)."""
        if self.supervisor.stopped:
            kept: AssessorState | None = self.keeper.get(Roles.RISK_ASSESSOR)
            return AssessorSnapshot(kept.book, dict(kept.spots), kept.source, kept.last_result, {}) if kept else None
        try:
            snapshot = self.registry.ask(Roles.RISK_ASSESSOR, StatusQuery(), timeout=STATUS_ASK_SECONDS)
        except (pykka.ActorDeadError, pykka.Timeout):
            return None
        return snapshot if isinstance(snapshot, AssessorSnapshot) else None

    def set_mode(self, mode: Mode) -> None:
        if not self.config.settings.enabled and mode is not Mode.MONITOR:
            raise ValueError("cleanup is disabled (enabled=false): only monitor mode is allowed")
        if mode is not Mode.MONITOR and self.gate.closed_by(READ_ONLY_CAUSE):
            raise ValueError("IB Gateway's API is read-only, so no order can be sent: untick Read-Only API in "
                             "IB Gateway (Configure > Settings > API > Settings), then switch mode")
        self.config.set_mode(mode)
        self.metrics.set_mode(mode)
        self.registry.tell(Roles.NOTIFIER, alerts.mode_changed(mode.value, "command"))
        self.registry.tell(Roles.POSITION_POLLER, PollNow(f"mode changed to {mode.value}"))

    def kill(self) -> None:
        self.gate.close(KILL_CAUSE, "kill switch engaged")
        self.metrics.set_kill_switch(True)
        self.registry.tell(Roles.NOTIFIER, alerts.kill_switch(True, "command"))

    def resume(self) -> None:
        self.gate.open(KILL_CAUSE)
        self.metrics.set_kill_switch(False)
        self.registry.ask(Roles.CIRCUIT_BREAKER, ResetBreaker("command"))
        self.registry.tell(Roles.EXECUTOR, ForgiveFailures())
        self.registry.tell(Roles.NOTIFIER, alerts.kill_switch(False, "command"))

    def close(self, contract_key: str) -> str:
        if self.config.mode is Mode.MONITOR:
            raise ValueError("monitor mode never trades: switch to active mode first (mode active)")
        answer = str(self.registry.ask(Roles.RISK_ASSESSOR, ManualClose(contract_key, self.clock.now())))
        # The assessor answers "closing N ..." when it sent a close, and otherwise says why it did not
        # ("no open position in ...", "... closing orders already cover the position"): a refusal.
        if not answer.startswith("closing "):
            raise ValueError(answer)
        return answer

    def settings(self) -> Settings:
        return self.config.settings

    def apply_settings(self, new: Settings) -> None:
        self.config.apply(new)

    # --- supervision hooks -----------------------------------------------------------------------
    def _child_failed(self, role: str, error: BaseException, salvaged: list[Any]) -> None:
        self.supervisor.child_failed(role, error, salvaged)

    def _restarted(self, role: str, error: BaseException) -> None:
        self.metrics.actor_restarted(role)
        self.registry.tell(Roles.AUDIT_LOGGER, ActionRecord(
            new_action_id(), self.clock.now(), ActionKind.ESCALATION, mode=self.config.mode.value,
            reason=f"actor {role} restarted after {error!r}", success=True))

    def _escalated(self, reason: str) -> None:
        self.gate.close("supervisor", reason)  # halt trading first, before anything else can fail
        self.metrics.supervisor_escalated()
        alert = alerts.supervisor_escalation("tree", self.supervisor.max_restarts,
                                             self.supervisor.window.total_seconds(), reason)
        self.registry.tell(Roles.NOTIFIER, alert)
        log.critical("%s: %s", alert.title, alert.body)


def _stage_name(stage: Stage | None) -> str | None:
    return stage.value if stage is not None else None
