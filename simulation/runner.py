"""Runs one simulated expiration afternoon through the real actor tree in virtual time.

Each virtual second: faults due now are applied, the paper broker fills what is due, the actors get
a tick, and a barrier waits until the tick's messages have gone down the pipeline. So a run is
deterministic for a scenario and seed, and an afternoon takes seconds. The run goes on to the
exercise cut-off (17:30 ET), as the service does, for the after-bell watch; once the session is
settled (a minute after the bell) nothing trades, and it steps ten virtual seconds at a time, as
fast as it can even at a ``speed`` (an hour and a half of after-hours quotes, watched in seconds).

Each run has a run id and its own directory, ``<simulation_dir>/<run id>/``, holding its spool and,
unless ``simulation_store`` names another store, its SQLite audit file: a simulation never writes
into the service's state directory or its database (``data_dir``, ``db_dsn``), and a rerun never
doubles an earlier run's timeline. Every record carries the run id, and the result reads this run's
records only: those in the store and those still in the spool (a store that is down or slow at the
end must not make a closed position look open).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from actors.context import Roles
from config.schema import Settings, settings_with
from domain.alerts import Alert
from domain.audit import ActionKind, ActionRecord, new_action_id, new_run_id
from domain.ex_dividend import outcome_tonight
from domain.mode import Mode
from domain.model import Position
from domain.session import ExpirySession
from domain.settlement import SETTLE_AFTER_CLOSE, Outcome, PositionResult, SessionKpis, session_kpis, settle
from gateways.audit import StoreUnavailable
from gateways.audit.durable import DurableAuditLog
from gateways.audit.factory import StoreTarget, open_target
from gateways.calendar import MarketCalendar
from gateways.metrics import Metrics
from gateways.paper_broker import PaperBroker
from gateways.private_files import private_directory
from gateways.sim_market import SimulatedMarket
from runtime.app import Gateways, build_app
from runtime.clock import VirtualClock
from runtime.service import Service
from simulation.morning import Morning, run_next_morning
from simulation.runs import run_directory, run_store
from simulation.scenario import Fault, Scenario, ScenarioError

log = logging.getLogger("cleanup.simulation")
STEP_SECONDS = 1.0
AFTER_CLOSE = 2 * SETTLE_AFTER_CLOSE  # the service settles the session (KPI counters) in this time after the bell
# From then to the exercise cut-off (the after-bell watch, 17:30 ET) nothing trades: steps of this many seconds
# keep the run short (540 steps instead of 5400) and still look at the after-hours price often.
AFTER_BELL_STEP_SECONDS = 10.0


@dataclass(frozen=True)
class Progress:
    now: datetime
    stage: str
    fraction: float


@dataclass(frozen=True)
class SimulationRun:
    """Where one run keeps its audit trail, and the id on each of its records."""

    run_id: str
    directory: Path
    store: StoreTarget


@dataclass(frozen=True)
class AuditOutcome:
    """How this run's audit trail ended up: the store described, records not in it, why not."""

    store: str
    unsent: int = 0
    spool: str = ""
    error: str = ""


def prepare_run(settings: Settings, started: datetime | None = None) -> SimulationRun:
    """A new run id and its directory (0700), under simulation_dir."""
    run_id = new_run_id(started or datetime.now(UTC))
    return SimulationRun(run_id, private_directory(run_directory(settings, run_id)), run_store(settings, run_id))


@dataclass
class SimulationResult:
    scenario: Scenario
    session: ExpirySession
    mode: Mode
    results: list[PositionResult]
    actions: list[ActionRecord]
    kpis: SessionKpis
    restarts: dict[str, int]
    alerts: list[Alert]
    orders_sent: int  # a combo order counts as one
    escalated: str = ""
    fill_times: dict[str, ActionRecord] = field(default_factory=dict)
    run: SimulationRun | None = None
    audit: AuditOutcome | None = None
    morning: Morning | None = None  # the next morning, when run through it

    @property
    def exit_code(self) -> int:
        return 70 if self.escalated else 0


class RecordingSender:
    """Alerts of a simulation: logged, kept for the summary, and shown as they happen."""

    def __init__(self, show: Callable[[Alert], None] | None = None) -> None:
        self.alerts: list[Alert] = []
        self._show = show

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)
        log.info("alert [%s] %s: %s", alert.severity.value, alert.title, alert.body)
        if self._show:
            self._show(alert)

    def close(self, timeout: float = 5.0) -> None:
        """Nothing queued: each alert was recorded as it was sent."""


def simulation_settings(settings: Settings, scenario: Scenario, mode: str | None) -> Settings:
    changes = dict(scenario.config)
    changes["price_source"] = "sim"
    if scenario.mode:
        changes["mode"] = scenario.mode
    if mode:
        changes["mode"] = mode
    return settings_with(settings, **changes)


def run_simulation(
    scenario: Scenario,
    settings: Settings,
    *,
    speed: float = 0.0,
    on_progress: Callable[[Progress], None] | None = None,
    on_alert: Callable[[Alert], None] | None = None,
    metrics: Metrics | None = None,
    on_started: Callable[[Service], contextlib.AbstractContextManager] | None = None,
    run: SimulationRun | None = None,
    through_next_open: bool = False,
) -> SimulationResult:
    """``through_next_open``: after the bell, also the next session's morning (simulation.morning)."""
    session = MarketCalendar(dividends=settings.dividend_schedule).session(scenario.day)
    if session is None:
        raise ScenarioError(f"scenario {scenario.name}: {scenario.day} is not a trading session "
                            "(weekend or exchange holiday); pick another --date")
    start = scenario.start(session)
    clock = VirtualClock(start)
    market = SimulatedMarket(scenario.spot_script(), session, clock, start)
    positions = scenario.initial_positions()
    _check_priced(scenario, market)
    broker = PaperBroker(market, clock, positions, scenario.initial_orders(), stock=scenario.stock,
                         position_lag_seconds=scenario.position_lag_seconds, refuse_combos=scenario.refuse_combos,
                         messages_per_second=settings.ib_messages_per_second)
    sender = RecordingSender(on_alert)
    metrics = metrics or Metrics(process_collectors=False)
    run = run or prepare_run(settings)
    # Delivered on the actor's own thread (no courier): a run stays deterministic tick for tick.
    audit_log = DurableAuditLog(run.directory / "spool", lambda: open_target(run.store),  # it migrates on connect
                                run_id=run.run_id, deliver_in_background=False)
    faults = scenario.fault_schedule()
    end = session.exercise_cutoff  # the service runs until then too (runtime/service_window.py)
    total = (end - start).total_seconds()
    with build_app(settings, clock, session, Gateways.ready(broker, market), sender, audit_log, metrics,
                   finish_audit=False) as app, contextlib.ExitStack() as stack:
        service = app.service
        if on_started:  # inside: a control plane that fails to start must not leave the actors running
            stack.enter_context(on_started(service))
        while clock.now() < end and not service.escalated:
            faults = _apply_due_faults(faults, clock.now(), service, broker, market)
            broker.process(clock.now())
            service.tick_in_order()
            if on_progress:
                now = clock.now()
                on_progress(Progress(now, session.stage(now, settings.thresholds).value,
                                     (now - start).total_seconds() / total))
            step = step_seconds(clock.now(), session)
            if speed > 0 and step == STEP_SECONDS:  # the after-bell watch is not paced: nothing trades then
                time.sleep(step / speed)
            clock.advance(step)
        outcomes = broker.settle()
        for key, outcome in outcomes.items():
            symbol = key.split()[0]
            close_price, after_price = market.spot_at(symbol, session.close), market.spot_after_hours(symbol)
            service.registry.tell(Roles.AUDIT_LOGGER, ActionRecord(
                new_action_id(), session.close, ActionKind.SETTLEMENT, symbol=symbol,
                reason=f"{key}: {outcome.value} ({symbol} {close_price:.2f} at the close, "
                       f"{after_price:.2f} at 17:30 ET)",
                success=outcome in (Outcome.EXPIRED_OTM,)))
        service.sync()
        escalated = service.supervisor.escalation_reason
        restarts = dict(service.supervisor.restarts)
    morning = None
    if through_next_open and not escalated:
        morning = run_next_morning(settings, session, clock, broker, market, sender, audit_log, metrics)
        escalated = morning.escalated
    actions, audit = _run_actions(run, audit_log)
    results, fills = _position_results(positions, outcomes, actions, market)
    # The KPI counters were set by the service itself after the bell (as in `run`); the summary's
    # KPIs also know the after-hours move, so a pinned short put assigned later counts here.
    return SimulationResult(scenario, session, service.config.mode, results, actions, session_kpis(results),
                            restarts, sender.alerts, len(broker.placed) + len(broker.placed_combos), escalated, fills,
                            run, audit, morning)


def step_seconds(now: datetime, session: ExpirySession) -> float:
    """A second to the settlement after the bell, AFTER_BELL_STEP_SECONDS from then to the cut-off."""
    return STEP_SECONDS if now < session.close + AFTER_CLOSE else AFTER_BELL_STEP_SECONDS


def _run_actions(run: SimulationRun, audit_log: DurableAuditLog) -> tuple[list[ActionRecord], AuditOutcome]:
    """This run's actions: from the store, then those the final drain could not deliver, from the spool."""
    unsent = audit_log.finish()
    stored: list[ActionRecord] = []
    read_error = ""
    try:
        store = open_target(run.store)
        try:
            store.migrate()  # a run that wrote nothing still reads back an empty trail, not a missing table
            stored = store.run_actions(run.run_id)
        finally:
            store.close()
    except StoreUnavailable as failure:
        read_error = str(failure)
    seen = {action.action_id for action in stored}
    spooled = [r for r in audit_log.unsent_records() if isinstance(r, ActionRecord) and r.action_id not in seen]
    actions = sorted(stored + spooled, key=lambda action: action.at)  # stable: store order within an instant
    return actions, AuditOutcome(run.store.describe(), unsent, str(audit_log.spool_directory) if unsent else "",
                                 read_error or (audit_log.last_error if unsent else ""))


def _apply_due_faults(faults: list[Fault], now: datetime, service: Service, broker: PaperBroker,
                      market: SimulatedMarket) -> list[Fault]:
    due = [f for f in faults if f.at <= now]
    for fault in due:
        log.warning("fault at %s: %s", fault.at.strftime("%H:%M:%S"), fault)
        if fault.kind == "crash_actor":
            service.crash(fault.actor)
        elif fault.kind == "reject_orders":
            broker.inject_rejects(fault.count)
        elif fault.kind == "feed_outage":
            market.outage(fault.seconds)
        elif fault.kind == "broker_disconnect":
            broker.inject_disconnect(fault.seconds)
        elif fault.kind == "no_fills":
            broker.inject_no_fills(fault.seconds)
        elif fault.kind == "refuse_contract":
            broker.refuse_contract(fault.contract)
    return [f for f in faults if f.at > now]


def _check_priced(scenario: Scenario, market: SimulatedMarket) -> None:
    """Every position and order must be on an underlying the market quotes: one it cannot price could
    be neither judged, filled nor settled."""
    held = [("positions", i, p.contract) for i, p in enumerate(scenario.initial_positions())]
    held += [("orders", i, o.contract) for i, o in enumerate(scenario.initial_orders())]
    for field_name, index, contract in held:
        if contract.symbol not in market.symbols:
            quoted = ", ".join(sorted(market.symbols))
            raise ScenarioError(f"scenario {scenario.name}: {field_name}[{index}] is on {contract.symbol}, which the "
                                f"simulated market has no price script for (it quotes {quoted})")


def _position_results(positions: Sequence[Position], outcomes: Mapping[str, Outcome], actions: Sequence[ActionRecord],
                      market: SimulatedMarket) -> tuple[list[PositionResult], dict[str, ActionRecord]]:
    fills: dict[str, list[ActionRecord]] = {}
    for action in actions:
        if action.action is ActionKind.FILL and action.strike is not None:
            key = f"{action.symbol} {action.expiry:%Y%m%d} {action.strike:g}{action.right}"
            fills.setdefault(key, []).append(action)
    results: list[PositionResult] = []
    last_fill: dict[str, ActionRecord] = {}
    for position in positions:
        key = position.contract.key
        own = fills.get(key, [])
        closed = sum(a.quantity or 0 for a in own)
        slipped = [(a.slippage, a.quantity or 0) for a in own if a.slippage is not None]
        weight = sum(q for _, q in slipped)
        if own:
            last_fill[key] = own[-1]
        outcome = outcomes.get(key, Outcome.CLOSED if closed >= abs(position.quantity) else Outcome.OPEN)
        symbol = position.contract.symbol
        close = market.session.close
        counterfactual = settle(position, market.spot_at(symbol, close), market.spot_after_hours(symbol)) \
            if position.contract.expiry == market.session.day else \
            outcome_tonight(position, market.spot_at(symbol, close), market.option_mid(position.contract, close),
                            market.session.ex_dividends)
        results.append(PositionResult(
            position, outcome, counterfactual, closed,
            sum(s * q for s, q in slipped) / weight if weight else None))
    return results, last_fill
