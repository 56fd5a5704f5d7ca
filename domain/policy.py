"""The closure policy: positions, orders, quotes and time in; assessments and decisions out.

``determine_actions`` is the functional core of the service (cosmicpython's pattern): actors gather
its inputs, call it, and apply what it returns. It never returns a decision that could open or
enlarge a position: a close is for at most the position minus the closing orders already working,
on the side opposite to the position; a stop is converted only when it closes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.model import OptionContract, Position, Quote, Side, WorkingOrder
from domain.order_refs import is_cleanup_ref
from domain.risk import RiskLevel, calculate_moneyness, probability_itm, risk_level, risk_score
from domain.session import ExpirySession
from domain.stages import Stage, Thresholds


class Mode(StrEnum):
    MONITOR = "monitor"
    ACTIVE = "active"
    EMERGENCY = "emergency"


class StageAction(StrEnum):
    """What the policy intends for one position at this instant, for display and the audit."""

    NONE = "none"
    WATCH = "watch"
    WARN = "warn"
    CLOSE = "close"


@dataclass(frozen=True)
class Assessment:
    contract: OptionContract
    quantity: int
    spot: float
    moneyness: float
    risk_score: float
    probability_itm: float
    level: RiskLevel
    stage: Stage
    action: StageAction
    minutes_to_close: float
    option_mid: float | None
    implied_vol: float | None


@dataclass(frozen=True)
class Warn:
    contract: OptionContract
    stage: Stage
    reason: str
    assessment: Assessment | None = None
    would_trade: bool = False  # monitor mode: what active mode would have done


@dataclass(frozen=True)
class Close:
    contract: OptionContract
    side: Side
    quantity: int
    stage: Stage
    reason: str
    reference_mid: float | None  # None: no fresh option quote; only emergency closes without one
    bid: float | None = None
    ask: float | None = None
    assessment: Assessment | None = None


@dataclass(frozen=True)
class ConvertStop:
    order: WorkingOrder
    stage: Stage
    reason: str


@dataclass(frozen=True)
class CancelOrder:
    order: WorkingOrder
    stage: Stage
    reason: str


Decision = Warn | Close | ConvertStop | CancelOrder


@dataclass(frozen=True)
class PolicyInput:
    positions: Sequence[Position]
    working_orders: Sequence[WorkingOrder]
    spot: Quote | None
    option_quotes: Mapping[str, Quote]
    now: datetime
    session: ExpirySession
    mode: Mode
    thresholds: Thresholds = field(default_factory=Thresholds)
    max_quote_age_seconds: float = 5.0
    max_option_quote_age_seconds: float = 30.0


@dataclass(frozen=True)
class PolicyResult:
    stage: Stage
    minutes_to_close: float
    assessments: tuple[Assessment, ...]
    decisions: tuple[Decision, ...]
    spot_stale: bool


def closing_orders(position: Position, orders: Iterable[WorkingOrder]) -> list[WorkingOrder]:
    """Working orders on the position's contract whose side would reduce it."""
    return [
        order
        for order in orders
        if order.contract == position.contract and order.side is position.closing_side and order.remaining > 0
    ]


def closable_quantity(position: Position, orders: Iterable[WorkingOrder]) -> int:
    """How many contracts may still be sent to close without any chance of crossing through zero."""
    working = sum(order.remaining for order in closing_orders(position, orders))
    return max(abs(position.quantity) - working, 0)


def _fresh(quote: Quote | None, now: datetime, max_age: float) -> Quote | None:
    if quote is None or quote.age_seconds(now) > max_age:
        return None
    return quote


def assess(position: Position, spot: float, option_quote: Quote | None, minutes: float, stage: Stage,
           action: StageAction) -> Assessment:
    contract = position.contract
    moneyness = calculate_moneyness(spot, contract.strike, contract.right)
    implied_vol = option_quote.implied_vol if option_quote else None
    score = risk_score(moneyness, minutes, implied_vol)
    probability = probability_itm(spot, contract.strike, contract.right, implied_vol, minutes,
                                  short=position.is_short)
    return Assessment(
        contract=contract,
        quantity=position.quantity,
        spot=spot,
        moneyness=moneyness,
        risk_score=score,
        probability_itm=probability,
        level=risk_level(score),
        stage=stage,
        action=action,
        minutes_to_close=minutes,
        option_mid=option_quote.mid if option_quote else None,
        implied_vol=implied_vol,
    )


def _stage_action(stage: Stage, moneyness: float, mode: Mode, thresholds: Thresholds) -> StageAction:
    if stage is Stage.CLOSED:
        return StageAction.NONE
    if mode is Mode.EMERGENCY:
        return StageAction.CLOSE
    if stage is Stage.T2:
        return StageAction.CLOSE if moneyness > -thresholds.t2_moneyness else StageAction.WATCH
    if stage is Stage.T5:
        if moneyness > 0:
            return StageAction.CLOSE
        return StageAction.WATCH if moneyness > -thresholds.t5_moneyness else StageAction.NONE
    if stage is Stage.T30:
        return StageAction.WARN if moneyness > -thresholds.t30_moneyness else StageAction.NONE
    return StageAction.NONE


def _close_decisions(position: Position, orders: Sequence[WorkingOrder], stage: Stage, reason: str,
                     option_quote: Quote | None, assessment: Assessment | None) -> list[Decision]:
    """Close what is not yet covered; make the trader's covering orders closing ones too.

    Our own working orders are left to the Executor's price walk. A covering stop becomes a market
    order. Any other covering order of the trader (say a far-away take-profit) is cancelled, and the
    close for that quantity follows on a later pass, once the cancel is confirmed: never both at once.
    """
    decisions: list[Decision] = []
    for order in closing_orders(position, orders):
        if is_cleanup_ref(order.order_ref):
            continue
        if order.is_stop:
            decisions.append(ConvertStop(order, stage, f"{reason}; protective stop becomes a market order"))
        else:
            decisions.append(CancelOrder(order, stage, f"{reason}; trader's resting order replaced by a close"))
    quantity = closable_quantity(position, orders)
    if quantity > 0:
        decisions.append(Close(
            contract=position.contract,
            side=position.closing_side,
            quantity=quantity,
            stage=stage,
            reason=reason,
            reference_mid=option_quote.mid if option_quote else None,
            bid=option_quote.bid if option_quote else None,
            ask=option_quote.ask if option_quote else None,
            assessment=assessment,
        ))
    return decisions


def _stop_decisions_at_t2(positions: Sequence[Position], orders: Sequence[WorkingOrder],
                          session: ExpirySession) -> list[Decision]:
    """At T-2 every stop on an expiring contract becomes a market order, if it closes.

    A stop that would open a position (no position, or the same side as it) is cancelled instead:
    triggered in the last minutes it would leave a fresh position to be exercised.
    """
    by_contract = {position.contract: position for position in positions if position.quantity}
    decisions: list[Decision] = []
    for order in orders:
        if not order.is_stop or order.remaining <= 0 or order.contract.expiry != session.day:
            continue
        position = by_contract.get(order.contract)
        if position is not None and order.side is position.closing_side:
            continue  # handled with the position, against its size
        decisions.append(CancelOrder(order, Stage.T2, "stop on an expiring contract would open a position"))
    return decisions


def _limit_to_position(position: Position, decisions: list[Decision], orders: Sequence[WorkingOrder]) -> list[Decision]:
    """Convert covering stops only while their total stays within the position; cancel the excess."""
    allowed = abs(position.quantity) - sum(
        order.remaining for order in closing_orders(position, orders) if not order.is_stop)
    result: list[Decision] = []
    for decision in decisions:
        if isinstance(decision, ConvertStop):
            if decision.order.remaining <= allowed:
                allowed -= decision.order.remaining
                result.append(decision)
            else:
                result.append(CancelOrder(decision.order, decision.stage,
                                          "stop larger than the position left to close"))
            continue
        result.append(decision)
    return result


def _downgrade_for_monitor(decision: Decision) -> Decision:
    if isinstance(decision, Warn):
        return decision
    if isinstance(decision, Close):
        text = f"would close {decision.quantity} {decision.contract.key}: {decision.reason}"
        return Warn(decision.contract, decision.stage, text, decision.assessment, would_trade=True)
    verb = "convert to market" if isinstance(decision, ConvertStop) else "cancel"
    return Warn(decision.order.contract, decision.stage,
                f"would {verb} order {decision.order.order_id}: {decision.reason}", would_trade=True)


def determine_actions(inputs: PolicyInput) -> PolicyResult:
    now, session, thresholds, mode = inputs.now, inputs.session, inputs.thresholds, inputs.mode
    minutes = session.minutes_to_close(now)
    stage = session.stage(now, thresholds)
    spot_quote = _fresh(inputs.spot, now, inputs.max_quote_age_seconds)
    spot = spot_quote.mid if spot_quote else None
    expiring = [p for p in inputs.positions if p.quantity != 0 and p.contract.expiry == session.day]

    assessments: list[Assessment] = []
    decisions: list[Decision] = []
    for position in expiring:
        option_quote = _fresh(inputs.option_quotes.get(position.contract.key), now,
                              inputs.max_option_quote_age_seconds)
        assessment = None
        action = StageAction.CLOSE if mode is Mode.EMERGENCY and stage is not Stage.CLOSED else StageAction.NONE
        if spot is not None:
            moneyness = calculate_moneyness(spot, position.contract.strike, position.contract.right)
            action = _stage_action(stage, moneyness, mode, thresholds)
            assessment = assess(position, spot, option_quote, minutes, stage, action)
            assessments.append(assessment)
        if action is StageAction.CLOSE:
            reason = _close_reason(stage, mode, assessment)
            found = _close_decisions(position, inputs.working_orders, stage, reason, option_quote, assessment)
            decisions.extend(_limit_to_position(position, found, inputs.working_orders))
        elif action in (StageAction.WARN, StageAction.WATCH) and assessment is not None:
            decisions.append(Warn(position.contract, stage, _warn_reason(stage, assessment), assessment))
        if stage is Stage.T2 and action is not StageAction.CLOSE and mode is not Mode.MONITOR:
            # Near-the-money rule did not fire (or no price): stops still become market orders at T-2.
            stops = [o for o in closing_orders(position, inputs.working_orders) if o.is_stop]
            found = [ConvertStop(o, stage, "T-2: stops on expiring contracts become market orders") for o in stops]
            decisions.extend(_limit_to_position(position, list(found), inputs.working_orders))
    if stage is Stage.T2 or (mode is Mode.EMERGENCY and stage is not Stage.CLOSED):
        decisions.extend(_stop_decisions_at_t2(expiring, inputs.working_orders, session))
    if mode is Mode.MONITOR:
        decisions = [_downgrade_for_monitor(d) for d in decisions]
    return PolicyResult(stage, minutes, tuple(assessments), tuple(decisions), spot_stale=spot is None)


def _close_reason(stage: Stage, mode: Mode, assessment: Assessment | None) -> str:
    if mode is Mode.EMERGENCY:
        return "emergency mode: close every expiring position"
    assert assessment is not None
    if stage is Stage.T5:
        return f"T-5: in the money ({assessment.moneyness:+.2%})"
    return f"T-2: near the money ({assessment.moneyness:+.2%})"


def _warn_reason(stage: Stage, assessment: Assessment) -> str:
    return (f"{stage.value}: at risk, moneyness {assessment.moneyness:+.2%}, "
            f"P(ITM) {assessment.probability_itm:.0%}, risk {assessment.level.value}")
