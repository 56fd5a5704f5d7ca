"""RiskAssessor: runs the closure policy on every price update and every poll, publishes the outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from actors.base import SupervisedActor
from actors.context import ActorContext, Roles
from domain import alerts
from domain.after_bell import ReportKind, WatchInput, WatchReport, WatchState, look
from domain.after_bell_alerts import watch_alert
from domain.announcements import (
    at_risk_at_t30,
    ex_dividend_plan,
    fresh_warnings,
    notices,
    plan_changes,
    stale_spells,
)
from domain.audit import ActionKind, ActionRecord, AssessmentRecord, new_action_id
from domain.book import Book
from domain.lapse import lapses_due
from domain.manual_close import manual_close
from domain.messages import (
    AssessorSnapshot,
    BookUpdate,
    Decisions,
    LapseRequest,
    ManualClose,
    MarketUpdate,
    SessionSettled,
    StatusQuery,
)
from domain.mode import Mode
from domain.model import OptionContract, Position, Quote
from domain.policy import PolicyInput, PolicyResult, Warn, closing_forecast, determine_actions
from domain.settlement import SETTLE_AFTER_CLOSE, SETTLE_DEADLINE, closed_quantity, closing_spot, settle_at_close
from domain.stages import Stage
from domain.structure_view import plan_label, structure_status
from domain.underlyings import is_cash_settled


@dataclass
class AssessorState:
    book: Book = field(default_factory=Book)
    spots: dict[str, Quote] = field(default_factory=dict)  # the latest quote of each underlying
    options: dict[str, Quote] = field(default_factory=dict)
    source: str = ""
    warned: set[tuple[OptionContract, str]] = field(default_factory=set)
    stages_announced: set[str] = field(default_factory=set)
    sampled_at: dict[OptionContract, datetime] = field(default_factory=dict)
    last_result: PolicyResult | None = None
    # For the settlement after the bell: each underlying's last quote at or before the close, and what
    # our fills closed today (signed, per contract: the poller's snapshots forget fills they contain).
    close_spots: dict[str, Quote] = field(default_factory=dict)
    closed_today: dict[OptionContract, int] = field(default_factory=dict)
    settled: bool = False
    closing_prices: dict[str, float] = field(default_factory=dict)  # per underlying, as the session was settled on
    after_bell: WatchState = field(default_factory=WatchState)  # what the after-bell watch reported
    reported: set[str] = field(default_factory=set)  # alert keys said once: unwatched contracts, blocking orders
    stale_spells: set[str] = field(default_factory=set)  # underlyings whose current spell without a price was alerted
    # The plan last audited of each multi-leg structure, by name; a structure not in it has the quiet plan.
    structure_plans: dict[str, tuple[Any, ...]] = field(default_factory=dict)


class RiskAssessor(SupervisedActor):
    role = Roles.RISK_ASSESSOR

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        self.state: AssessorState = ctx.keeper.get(self.role) or AssessorState()

    def handle(self, message: Any) -> Any:
        if isinstance(message, MarketUpdate):
            self._remember_spots(message)
            self.state.options.update(message.options)
            self.state.source = message.source
            self._evaluate(message.at)
        elif isinstance(message, BookUpdate):
            read_again = message.book.taken_at != self.state.book.taken_at
            self.state.book = message.book
            for fill in message.new_fills:
                self._count_closed(fill.contract, closed_quantity(fill.side, fill.quantity))
            if read_again and message.book.taken_at is not None:
                self._evaluate(message.book.taken_at)
        elif isinstance(message, ManualClose):
            return self._manual_close(message)
        elif isinstance(message, StatusQuery):
            return self._snapshot()
        else:
            return super().handle(message)
        self.ctx.keeper.keep(self.role, self.state)
        return None

    def _snapshot(self) -> AssessorSnapshot:
        result = self.state.last_result
        forecast = closing_forecast(self._inputs(self.ctx.clock.now()), result.assessments) if result else {}
        return AssessorSnapshot(self.state.book, dict(self.state.spots), self.state.source, result, forecast)

    def _remember_spots(self, update: MarketUpdate) -> None:
        """Each underlying's latest quote; one the poll did not bring keeps its last (it ages)."""
        for symbol, quote in update.spots.items():
            self.state.spots[symbol] = quote
            if quote.at <= self.ctx.session.close:
                self.state.close_spots[symbol] = quote
        primary = update.spots.get(self.ctx.config.settings.symbol)
        if primary is not None:
            self.ctx.metrics.quote_received(primary.at)

    def _inputs(self, now: datetime) -> PolicyInput:
        settings = self.ctx.config.settings
        return PolicyInput(
            positions=self.state.book.effective_positions(),
            working_orders=self.state.book.working_orders(),
            spots=self.state.spots,
            option_quotes=self.state.options,
            now=now,
            session=self.ctx.session,
            mode=self.ctx.config.mode,
            thresholds=settings.thresholds,
            rules=settings.rules,
            max_quote_age_seconds=settings.quote_max_age_seconds,
            max_option_quote_age_seconds=settings.option_quote_max_age_seconds,
            stale_itm_factor=settings.stale_quote_itm_factor,
        )

    def _evaluate(self, now: datetime) -> None:
        result = determine_actions(self._inputs(now))
        self.state.last_result = result
        actionable = tuple(d for d in result.decisions if not isinstance(d, Warn))
        working = {o.contract.key for o in self.state.book.own_orders}
        quotes = {key: quote for key, quote in self.state.options.items()
                  if key in working and quote.age_seconds(now) <= self.ctx.config.settings.option_quote_max_age_seconds}
        if actionable or quotes:
            self.send(Roles.EXECUTOR, Decisions(actionable, now, self.ctx.config.mode, quotes))
        # Bookkeeping after the decisions are on their way: the gauges and the sampled assessments
        # (one audit record each) took ~8 ms at 500 positions, all of it before the first order.
        self._metrics(result)
        self._sample(result, now)
        self._warn(result, now)
        self._audit_structures(result, now)
        self._report(result, now)
        self._settle(now)
        self._watch_after_bell(now)

    def _warn(self, result: PolicyResult, now: datetime) -> None:
        fresh = fresh_warnings(result, self.state.warned)
        for warning in fresh:
            self.state.warned.add((warning.contract, warning.stage.value))
            a = warning.assessment
            self.audit(ActionRecord(
                new_action_id(), now, ActionKind.WARN, symbol=warning.contract.symbol,
                strike=warning.contract.strike, expiry=warning.contract.expiry, right=warning.contract.right.value,
                quantity=a.quantity if a else None, account=self.ctx.account, mode=self.ctx.config.mode.value,
                stage=warning.stage.value, reason=warning.reason, moneyness=a.moneyness if a else None,
                risk_score=a.risk_score if a else None, probability_itm=a.probability_itm if a else None))
        self._warn_ex_dividend(fresh, result)
        t30 = at_risk_at_t30(fresh)
        if t30:
            self.alert(alerts.at_risk_warning(self.ctx.session.day, result.minutes_to_close, [
                alerts.AtRiskPosition(d.contract.key, d.assessment.quantity, d.assessment.moneyness,
                                      d.assessment.probability_itm) for d in t30 if d.assessment]))
        for warning in fresh:
            if warning.would_trade:
                self.alert(alerts.Alert(alerts.Severity.WARNING, f"Monitor mode: {warning.contract.key}",
                                        warning.reason, f"monitor:{warning.contract.key}:{warning.stage.value}"))

    def _warn_ex_dividend(self, fresh: list[Warn], result: PolicyResult) -> None:
        """Once per contract: the short calls at risk of early assignment for tomorrow's dividend, and what is done."""
        risky = [w for w in fresh if w.ex_dividend is not None and w.assessment is not None
                 and f"ex-dividend:{w.contract.key}" not in self.state.reported]
        if not risky:
            return
        self.state.reported.update(f"ex-dividend:{w.contract.key}" for w in risky)
        plan = ex_dividend_plan(self.ctx.config.mode, self.ctx.config.settings.ex_dividend_guard)
        self.alert(alerts.ex_dividend_risk(self.ctx.session.day, result.minutes_to_close, [
            alerts.DividendRisk(w.contract.key, w.assessment.quantity, w.ex_dividend.time_value,
                                w.ex_dividend.dividend.amount, w.ex_dividend.dividend.ex_date)
            for w in risky if w.assessment and w.ex_dividend], plan))

    def _audit_structures(self, result: PolicyResult, now: datetime) -> None:
        """One WARN record per change of a multi-leg structure's plan (domain.announcements.plan_changes)."""
        for assessment, key in plan_changes(result.structures, self.state.structure_plans):
            structure, plan = assessment.structure, assessment.plan
            self.state.structure_plans[structure.name] = key
            self.audit(ActionRecord(
                new_action_id(), now, ActionKind.WARN, symbol=structure.symbol, expiry=structure.expiry,
                account=self.ctx.account, mode=self.ctx.config.mode.value, stage=result.stage.value,
                reason=f"structure {plan_label(plan)}: {assessment.text()}",
                details={"structure": structure_status(assessment)}))

    def _report(self, result: PolicyResult, now: datetime) -> None:
        """What the policy cannot act on, each said once, and (from T-5, once per spell) underlyings without a
        fresh price (domain.announcements)."""
        for notice in notices(result, self.ctx.session):
            self._once(notice.alert, now, notice.contract, notice.quantity, result.stage, order_id=notice.order_id)
        starting, self.state.stale_spells = stale_spells(result, self.state.stale_spells)
        settings = self.ctx.config.settings
        for spell in starting:
            last = spell.last
            alert = alerts.stale_underlying(
                spell.symbol, last.mid if last else None, last.at if last else None,
                last.age_seconds(now) if last else None, [c.key for c in spell.closing],
                [c.key for c in spell.unjudged], settings.stale_quote_itm_factor * settings.t2_moneyness,
                self.ctx.config.mode is not Mode.MONITOR)
            self.alert(alert)
            self.audit(ActionRecord(new_action_id(), now, ActionKind.WARN, symbol=spell.symbol,
                                    account=self.ctx.account, mode=self.ctx.config.mode.value,
                                    stage=result.stage.value, reason=f"{alert.title}: {alert.body}"))

    def _once(self, alert: alerts.Alert, now: datetime, contract: OptionContract, quantity: int, stage: Stage,
              order_id: str | None = None) -> None:
        if alert.key in self.state.reported:
            return
        self.state.reported.add(alert.key)
        self.alert(alert)
        self.audit(ActionRecord(
            new_action_id(), now, ActionKind.WARN, symbol=contract.symbol, strike=contract.strike,
            expiry=contract.expiry, right=contract.right.value, quantity=quantity, account=self.ctx.account,
            mode=self.ctx.config.mode.value, stage=stage.value, reason=f"{alert.title}: {alert.body}",
            order_id=order_id))

    def _sample(self, result: PolicyResult, now: datetime) -> None:
        every = timedelta(seconds=self.ctx.config.settings.assessment_sample_seconds)
        for a in result.assessments:
            last = self.state.sampled_at.get(a.contract)
            if last is not None and now - last < every:
                continue
            self.state.sampled_at[a.contract] = now
            self.audit(AssessmentRecord(now, a.contract.key, a.quantity, a.spot, a.moneyness, a.risk_score,
                                        a.probability_itm, a.level.value, a.stage.value, a.action.value,
                                        self.ctx.config.mode.value))

    def _metrics(self, result: PolicyResult) -> None:
        metrics = self.ctx.metrics
        metrics.set_time_to_close(result.minutes_to_close * 60, result.stage)
        unwatched = {p.contract for p in result.unwatched}  # never priced by design: not "UNKNOWN" risk
        watched = [p.contract.key for p in self._expiring() if p.contract not in unwatched]
        metrics.record_positions(result.stage, watched, result.assessments)

    def _expiring(self) -> list[Position]:
        return [p for p in self.state.book.effective_positions() if p.contract.expiry == self.ctx.session.day]

    def _count_closed(self, contract: OptionContract, quantity: int) -> None:
        if contract.expiry == self.ctx.session.day:
            self.state.closed_today[contract] = self.state.closed_today.get(contract, 0) + quantity

    def _settle(self, now: datetime) -> None:
        """Once per session, after the bell: the KPI counters, each contract settled on its own
        underlying at the close, and the lapses due; the after-bell watch reports from then on."""
        session, settings = self.ctx.session, self.ctx.config.settings
        if self.state.settled or now < session.close + SETTLE_AFTER_CLOSE:
            return
        still_open = self._expiring()
        closed = [Position(contract, quantity) for contract, quantity in self.state.closed_today.items()]
        needed = {p.contract.symbol for p in (*still_open, *closed) if not is_cash_settled(p.contract.symbol)}
        prices = {}
        for symbol in needed:
            price = closing_spot(self.state.close_spots.get(symbol), self.state.spots.get(symbol), session.close,
                                 now, settings.quote_max_age_seconds)
            if price is not None:
                prices[symbol] = price
        if needed - prices.keys() and now < session.close + SETTLE_DEADLINE:
            return  # no usable price of every underlying yet: settle on a later pass
        self.state.settled = True
        self.state.closing_prices = prices
        self.ctx.metrics.record_settlement(settle_at_close(still_open, closed, prices))
        self.send(Roles.ASSIGNMENT_DESK, SessionSettled(tuple(still_open), prices, now))
        plan = lapses_due(still_open, prices, session, now, {})
        if plan.due or plan.too_late:
            self.send(Roles.LAPSE_DESK, LapseRequest(plan, now))

    def _watch_after_bell(self, now: datetime) -> None:
        """From the settlement to the cut-off: the reports of domain.after_bell on the latest after-hours prices.
        The alerts are rendered first, then the new state kept, then they go: a restarted assessor neither sends
        a report twice nor loses one to a half-done pass."""
        if not self.state.settled or self.state.after_bell.final_sent:
            return
        close, settings = self.ctx.session.close, self.ctx.config.settings
        after_hours = {symbol: quote for symbol, quote in self.state.spots.items() if quote.at > close}
        watched, reports = look(self.state.after_bell, WatchInput(
            self._expiring(), self.state.closing_prices, after_hours, settings.t2_moneyness, now, self.ctx.session,
            settings.after_bell_updates))
        rendered = [(report, watch_alert(self.ctx.session.day, report)) for report in reports]
        self.state.after_bell = watched
        self.ctx.keeper.keep(self.role, self.state)
        for report, alert in rendered:
            self._audit_watch(report, alert)
            self.alert(alert)

    def _audit_watch(self, report: WatchReport, alert: alerts.Alert) -> None:
        """The first report: one record per position (its outcome at the close); the others: one record each."""
        mode = self.ctx.config.mode.value
        if report.kind is ReportKind.FIRST:
            for line in report.lines:
                contract = line.contract
                self.audit(ActionRecord(
                    new_action_id(), report.at, ActionKind.WARN, symbol=contract.symbol, strike=contract.strike,
                    expiry=contract.expiry, right=contract.right.value, quantity=line.quantity,
                    account=self.ctx.account, mode=mode, stage=Stage.CLOSED.value,
                    reason=f"open at the close: {line.outlook.value}", moneyness=line.moneyness_at_close,
                    success=not line.outlook.at_risk,
                    details={"price_at_close": line.price_at_close} if line.price_at_close is not None else {}))
            return
        self.audit(ActionRecord(
            new_action_id(), report.at, ActionKind.WARN, account=self.ctx.account, mode=mode,
            stage=Stage.CLOSED.value, reason=f"after the bell, {report.kind.value} report: {alert.title}",
            success=not (report.expect_assignment or any(c.into_the_money for c in report.crossings)),
            details={"alert": alert.body, "delivery": dict(report.delivery)}))

    def _manual_close(self, request: ManualClose) -> str:
        settings = self.ctx.config.settings
        decision = manual_close(OptionContract.parse_key(request.contract_key), self.state.book.effective_positions(),
                                self.state.book.working_orders(), self.state.options, request.at, self.ctx.session,
                                settings.thresholds, settings.option_quote_max_age_seconds)
        if isinstance(decision, str):
            return decision
        self.send(Roles.EXECUTOR, Decisions((decision,), request.at, self.ctx.config.mode))
        return f"closing {decision.quantity} {decision.contract.key} ({decision.side.value})"

