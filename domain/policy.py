"""The closure policy: positions, orders, quotes and time in; assessments and decisions out.

``determine_actions`` is the functional core of the service (cosmicpython's pattern): actors gather
its inputs, call it, and apply what it returns. It never returns a decision that could open or
enlarge a position: a close is for at most the position minus the closing orders already working,
on the side opposite to the position; a stop is converted only when it closes, and only while it
fits in what every other order left working leaves of the position.

Each position is judged by its own underlying's price (``PolicyInput.spots``, by symbol), never by
another symbol's; cash-settled index options (``domain.underlyings``) are not judged at all. Orders
the broker will not let this service change (``WorkingOrder.modifiable`` False) are never converted
or cancelled; they still count against the position, and are reported from T-30 (``untouchable``).

Positions expiring later are not judged, but for one risk: on the session before an ex-date, a short call a
holder is likely to exercise early for the dividend (``domain.ex_dividend``) is warned of and closed as an
expiring short in the money is (``_dividend_decisions``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.closing_rules import ClosingRules
from domain.ex_dividend import EarlyAssignmentRisk, early_assignment_risk
from domain.mode import Mode
from domain.model import OptionContract, Position, Quote, Side, WorkingOrder
from domain.order_refs import is_cleanup_ref
from domain.priority import close_priority
from domain.risk import (
    RiskLevel,
    calculate_moneyness,
    probability_assigned,
    probability_itm,
    risk_level,
    risk_score,
    settlement_range,
)
from domain.session import EASTERN, ExpirySession
from domain.settlement import intrinsic
from domain.stages import Stage, Thresholds
from domain.structure_rules import StructureAssessment, StructurePlan, plan_structure
from domain.structures import Leg, Structure, group_structures
from domain.underlyings import is_cash_settled


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
    ex_dividend: EarlyAssignmentRisk | None = None  # a short call likely exercised early tonight for the dividend


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
    # A person asked (ctl close, Telegram): a contract the Executor gave up after refusals is tried again,
    # with its attempts counted afresh. Closing never opens all the same.
    manual: bool = False


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


@dataclass(frozen=True)
class CloseCombo:
    """Close every leg of a structure with one order (``domain.structure_rules``): ``legs`` are the legs' closes,
    each with its quote; the order's quantity is in units of ``ratio`` contracts per leg. When the broker will
    not take it, the legs are closed one by one, short legs first (``short_legs_first``)."""

    structure: Structure
    legs: tuple[Close, ...]
    units: int
    stage: Stage
    reason: str
    assessment: StructureAssessment | None = None

    def ratio(self, leg: Close) -> int:
        return leg.quantity // self.units

    def short_legs_first(self) -> tuple[Close, ...]:
        """The closes to send one by one instead: the short legs while any is open, the longs after them."""
        shorts = tuple(leg for leg in self.legs if leg.side is Side.BUY)
        return shorts or self.legs


Decision = Warn | Close | CloseCombo | ConvertStop | CancelOrder


@dataclass(frozen=True)
class PolicyInput:
    positions: Sequence[Position]
    working_orders: Sequence[WorkingOrder]
    spots: Mapping[str, Quote]  # the latest quote known of each underlying, by symbol
    option_quotes: Mapping[str, Quote]
    now: datetime
    session: ExpirySession
    mode: Mode
    thresholds: Thresholds = field(default_factory=Thresholds)
    rules: ClosingRules = field(default_factory=ClosingRules)
    max_quote_age_seconds: float = 5.0
    max_option_quote_age_seconds: float = 30.0
    # From T-5 with no fresh price: close on the last one what it put beyond this many T-2 bands in the money
    stale_itm_factor: float = 2.0


@dataclass(frozen=True)
class StaleUnderlying:
    """An underlying of expiring positions without a fresh price (not reported in emergency mode,
    which closes every position without looking at prices)."""

    symbol: str
    last: Quote | None  # the last quote known; None: never quoted
    closing: tuple[OptionContract, ...]  # closed on the last price: clearly in the money on it, from T-5
    unjudged: tuple[OptionContract, ...]  # neither judged nor closed


@dataclass(frozen=True)
class UntouchableOrder:
    """A working order on an expiring contract that the broker will not let this service modify or
    cancel (``WorkingOrder.modifiable`` False). It still counts against the position it covers."""

    order: WorkingOrder
    position: int  # signed quantity held in its contract; 0 when none

    @property
    def covers(self) -> int:
        """Contracts of the position this order covers, which the service therefore leaves unclosed;
        0 for an order that would open a position."""
        closing_side = Side.SELL if self.position > 0 else Side.BUY
        if self.position == 0 or self.order.side is not closing_side:
            return 0
        return min(self.order.remaining, abs(self.position))


@dataclass(frozen=True)
class PolicyResult:
    stage: Stage
    minutes_to_close: float
    assessments: tuple[Assessment, ...]
    decisions: tuple[Decision, ...]
    stale: tuple[StaleUnderlying, ...] = ()
    unwatched: tuple[Position, ...] = ()  # expiring cash-settled index options: never judged nor traded
    untouchable: tuple[UntouchableOrder, ...] = ()  # from T-30
    structures: tuple[StructureAssessment, ...] = ()  # the multi-leg structures of the expiring positions
    # Short calls in the money on the symbol going ex next whose time value is unknown (no fresh option quote)
    dividend_unjudged: tuple[Position, ...] = ()


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


def assess(position: Position, spot: float, option_quote: Quote | None, inputs: PolicyInput, stage: Stage,
           action: StageAction, moneyness: float | None = None, clock: _Clock | None = None) -> Assessment:
    """The position's risk figures; its probability is the one the policy decides shorts on: assignment
    until 17:30 ET for a short, in the money at the close for a long.

    ``moneyness``, ``clock``: the caller's, already computed from this ``spot`` and these inputs (the
    same figures, not computed again for every position)."""
    contract = position.contract
    clock = clock or _Clock.of(inputs)
    minutes = clock.minutes
    if moneyness is None:
        moneyness = calculate_moneyness(spot, contract.strike, contract.right)
    implied_vol = option_quote.implied_vol if option_quote else None
    score = risk_score(moneyness, minutes, implied_vol)
    probability = _assignment_probability(position, spot, option_quote, inputs, clock) if position.is_short else \
        probability_itm(spot, contract.strike, contract.right, implied_vol, minutes)
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


def _stage_action(position: Position, stage: Stage, moneyness: float, inputs: PolicyInput,
                  option_quote: Quote | None, spot: float, clock: _Clock | None = None) -> StageAction:
    """What one stage does with one position at this moneyness: the bands of ``Thresholds``, told
    apart by side as ``domain.closing_rules`` says (seed rules when its defaults are used)."""
    thresholds, rules = inputs.thresholds, inputs.rules
    if stage is Stage.CLOSED:
        return StageAction.NONE
    if inputs.mode is Mode.EMERGENCY:
        return StageAction.CLOSE
    if stage is Stage.T30:
        return StageAction.WARN if moneyness > -thresholds.t30_moneyness else StageAction.NONE
    if stage is Stage.NORMAL:
        return StageAction.NONE
    watch = StageAction.WATCH if stage is Stage.T2 or moneyness > -thresholds.t5_moneyness else StageAction.NONE
    if not position.is_short and rules.lapse_longs:
        # A long is sold for its value, never for fear of exercise: one not sold is lapsed if it finished
        # in the money, so the sale can wait for T-2, when fewer of those in the money now end out of it.
        worth_selling = moneyness > 0 and _long_value(position, option_quote, spot) >= rules.long_min_bid
        return StageAction.CLOSE if stage is Stage.T2 and worth_selling else watch
    if moneyness > 0:
        return StageAction.CLOSE
    if stage is Stage.T2:
        if position.is_short:
            # The seed's band is the floor: every short inside it is closed; beyond it, one whose chance of
            # assignment is still above the level (a volatile day, the 4.5-hour window of an early close).
            near = moneyness > -thresholds.t2_moneyness or _assignment_probability(
                position, spot, option_quote, inputs, clock) > rules.short_assignment_probability
        else:
            near = moneyness > -thresholds.t2_moneyness_long
        if near:
            return StageAction.CLOSE
    return watch


_DAY_STAGES = (Stage.NORMAL, Stage.T30, Stage.T5, Stage.T2)


def closing_forecast(inputs: PolicyInput, assessments: Iterable[Assessment]) -> dict[OptionContract, Stage | None]:
    """For display: the first stage, from the current one to the bell, at which the policy's own rule
    for one position (``_stage_action``) would close it if its price stayed where it is; None: never.
    A forecast for a person (the terminal UI's queue), not a decision: structures' plans may differ."""
    current = inputs.session.stage(inputs.now, inputs.thresholds)
    if current not in _DAY_STAGES:
        return {a.contract: None for a in assessments}
    ahead = _DAY_STAGES[_DAY_STAGES.index(current):]
    clock = _Clock.of(inputs)
    positions = {p.contract: p for p in inputs.positions}
    forecast: dict[OptionContract, Stage | None] = {}
    for a in assessments:
        position = positions.get(a.contract)
        if position is None:
            continue
        quote = _fresh(inputs.option_quotes.get(a.contract.key), inputs.now, inputs.max_option_quote_age_seconds)
        forecast[a.contract] = next(
            (stage for stage in ahead
             if _stage_action(position, stage, a.moneyness, inputs, quote, a.spot, clock) is StageAction.CLOSE), None)
    return forecast


def _long_value(position: Position, option_quote: Quote | None, spot: float) -> float:
    """Dollars per share a sale would bring: the bid when quoted, else the intrinsic value."""
    if option_quote is not None and option_quote.bid is not None:
        return option_quote.bid
    return intrinsic(position.contract.right, position.contract.strike, spot)


@dataclass(frozen=True)
class _Clock:
    """The pass's time figures, the same for every position: computed once, not once per position."""

    minutes: float  # to the close
    after_hours: float  # minutes of the holders' window after the close (to 17:30 ET)

    @classmethod
    def of(cls, inputs: PolicyInput) -> _Clock:
        session = inputs.session
        return cls(session.minutes_to_close(inputs.now),
                   (session.exercise_cutoff - session.close).total_seconds() / 60.0)


def _assignment_probability(position: Position, spot: float, option_quote: Quote | None,
                            inputs: PolicyInput, clock: _Clock | None = None) -> float:
    clock = clock or _Clock.of(inputs)
    return probability_assigned(
        spot, position.contract.strike, position.contract.right,
        option_quote.implied_vol if option_quote else None, clock.minutes, clock.after_hours,
        inputs.rules.after_hours_vol_factor)


@dataclass(frozen=True)
class _Judgement:
    action: StageAction
    assessment: Assessment | None
    fresh: bool  # judged on a fresh price of the position's own underlying
    on_stale: Quote | None = None  # the last price a close was decided on when no fresh one was left


def _fresh_spots(inputs: PolicyInput) -> dict[str, float]:
    """Each underlying's fresh price (the mid of a quote young enough), once per pass, not once per position."""
    fresh_mids = {}
    for symbol, quote in inputs.spots.items():
        fresh = _fresh(quote, inputs.now, inputs.max_quote_age_seconds)
        if fresh is not None and fresh.mid is not None:
            fresh_mids[symbol] = fresh.mid
    return fresh_mids


def _judge(position: Position, inputs: PolicyInput, stage: Stage, clock: _Clock, fresh_mids: Mapping[str, float],
           option_quote: Quote | None) -> _Judgement:
    """What to do with one position, on its own underlying's price: one rule for every caller.

    No fresh price: not judged, except in emergency mode (closes without a price) and from T-5 on,
    when a position the last price put clearly in the money (beyond ``stale_itm_factor`` T-2 bands)
    is closed on it: a quote frozen at T-6 must not leave a deep in-the-money call to be exercised.
    Near or out of the money on an old price, nothing is done: it may have crossed since.
    """
    contract = position.contract
    spot = fresh_mids.get(contract.symbol)  # ``_fresh_spots``
    if spot is not None:
        moneyness = calculate_moneyness(spot, contract.strike, contract.right)
        action = _stage_action(position, stage, moneyness, inputs, option_quote, spot, clock)
        return _Judgement(action, assess(position, spot, option_quote, inputs, stage, action, moneyness, clock),
                          fresh=True)
    latest = inputs.spots.get(contract.symbol)
    if inputs.mode is Mode.EMERGENCY and stage is not Stage.CLOSED:
        return _Judgement(StageAction.CLOSE, None, fresh=False)
    if stage in (Stage.T5, Stage.T2) and latest is not None and latest.mid is not None:
        moneyness = calculate_moneyness(latest.mid, contract.strike, contract.right)
        if moneyness > inputs.stale_itm_factor * inputs.thresholds.t2_moneyness:
            return _Judgement(StageAction.CLOSE,
                              assess(position, latest.mid, option_quote, inputs, stage, StageAction.CLOSE,
                                     clock=clock),
                              fresh=False, on_stale=latest)
    return _Judgement(StageAction.NONE, None, fresh=False)


def _may_change(order: WorkingOrder) -> bool:
    """A trader's order this service may convert or cancel: not one of ours (the Executor walks
    those), and one the broker lets it modify (IB refuses, and retrying used to trip the breaker)."""
    return not is_cleanup_ref(order.order_ref) and order.modifiable


def _position_decisions(position: Position, orders: Sequence[WorkingOrder], stage: Stage, reason: str, *,
                        close: bool, option_quote: Quote | None = None, assessment: Assessment | None = None,
                        limit: int | None = None) -> list[Decision]:
    """The trader's covering orders made closing ones, and (``close``) a close of what is left uncovered.

    A covering stop becomes a market order. When closing, any other covering order of the trader's
    (a far take-profit, an MIT...) is cancelled, and the close for that quantity follows on a later
    pass once the cancel is confirmed: never both at once. Every covering order that is not converted
    now stays working for the moment (ours, the ones we may not touch, those being cancelled), so all
    of them count: a stop is converted only while it fits in what they leave of the position, and is
    cancelled otherwise (made marketable it would open the difference).

    ``limit``: only this many contracts may close (the rest of the position protects a short leg): no
    trader's order is converted or cancelled then, since each closes contracts of the whole position.
    """
    if limit is not None and limit < abs(position.quantity):
        quantity = min(limit, closable_quantity(position, orders))
        return [_close(position, stage, reason, quantity, option_quote, assessment)] if close and quantity > 0 else []
    covering = closing_orders(position, orders)
    stops = [o for o in covering if _may_change(o) and o.is_stop]
    decisions: list[Decision] = []
    if close:
        decisions += [CancelOrder(o, stage, f"{reason}; trader's resting order replaced by a close")
                      for o in covering if _may_change(o) and not o.is_stop]
    room = abs(position.quantity) - sum(o.remaining for o in covering if not any(o is s for s in stops))
    for stop in stops:
        if stop.remaining <= room:
            room -= stop.remaining
            decisions.append(ConvertStop(stop, stage, f"{reason}; protective stop becomes a market order"))
        else:
            decisions.append(CancelOrder(stop, stage, "stop larger than the position left to close"))
    quantity = closable_quantity(position, orders)
    if close and quantity > 0:
        decisions.append(_close(position, stage, reason, quantity, option_quote, assessment))
    return decisions


def _close(position: Position, stage: Stage, reason: str, quantity: int, option_quote: Quote | None,
           assessment: Assessment | None) -> Close:
    return Close(
        contract=position.contract,
        side=position.closing_side,
        quantity=quantity,
        stage=stage,
        reason=reason,
        reference_mid=option_quote.mid if option_quote else None,
        bid=option_quote.bid if option_quote else None,
        ask=option_quote.ask if option_quote else None,
        assessment=assessment,
    )


def _opening_orders(positions: Sequence[Position], orders: Sequence[WorkingOrder],
                    session: ExpirySession) -> list[Decision]:
    """The trader's orders that would open a position on an expiring contract (no position, or the
    same side as it), of any type: cancelled. Filled in the last minutes, they would leave a fresh
    position to be exercised or assigned."""
    by_contract = {position.contract: position for position in positions if position.quantity}
    decisions: list[Decision] = []
    for order in orders:
        if (order.remaining <= 0 or order.contract.expiry != session.day or not _may_change(order)
                or is_cash_settled(order.contract.symbol)):
            continue
        position = by_contract.get(order.contract)
        if position is not None and order.side is position.closing_side:
            continue  # covers the position: handled with it, against its size
        decisions.append(CancelOrder(order, Stage.T2, "order on an expiring contract would open a position"))
    return decisions


def _untouchable(positions: Sequence[Position], orders: Sequence[WorkingOrder],
                 session: ExpirySession) -> tuple[UntouchableOrder, ...]:
    held = {position.contract: position.quantity for position in positions}
    return tuple(UntouchableOrder(order, held.get(order.contract, 0)) for order in orders
                 if not order.modifiable and order.remaining > 0 and order.contract.expiry == session.day
                 and not is_cash_settled(order.contract.symbol))


ClosingDecision = Close | CloseCombo | ConvertStop


def priority_of(decision: ClosingDecision, moneyness: Mapping[OptionContract, float]) -> tuple[int, int, float]:
    """``domain.priority.close_priority`` of a closing decision; a combo ranks as its riskiest short leg (or its
    riskiest leg, when it has no short one). ``moneyness`` by contract: a converted stop's."""
    if isinstance(decision, CloseCombo):
        return min(priority_of(leg, moneyness) for leg in decision.short_legs_first())
    if isinstance(decision, ConvertStop):
        contract, side = decision.order.contract, decision.order.side
        return close_priority(side is Side.BUY, moneyness.get(contract))
    depth = decision.assessment.moneyness if decision.assessment else moneyness.get(decision.contract)
    return close_priority(decision.side is Side.BUY, depth)


def riskiest_first(decisions: Sequence[Decision], moneyness: Mapping[OptionContract, float]) -> list[Decision]:
    """The closing decisions, riskiest first (stable among equals), then the warnings and cancels in their order:
    the Executor sends in this order, and at IB's pacing the last closes go out seconds later than the first."""
    closing = [d for d in decisions if isinstance(d, Close | CloseCombo | ConvertStop)]
    closing.sort(key=lambda d: priority_of(d, moneyness))
    return [*closing, *(d for d in decisions if not isinstance(d, Close | CloseCombo | ConvertStop))]


def _downgrade_for_monitor(decision: Decision) -> Decision:
    if isinstance(decision, Warn):
        return decision
    if isinstance(decision, Close):
        text = f"would close {decision.quantity} {decision.contract.key}: {decision.reason}"
        return Warn(decision.contract, decision.stage, text, decision.assessment, would_trade=True)
    if isinstance(decision, CloseCombo):
        text = f"would close {decision.structure.name} as one combo order: {decision.reason}"
        return Warn(decision.legs[0].contract, decision.stage, text, decision.legs[0].assessment, would_trade=True)
    verb = "convert to market" if isinstance(decision, ConvertStop) else "cancel"
    return Warn(decision.order.contract, decision.stage,
                f"would {verb} order {decision.order.order_id}: {decision.reason}", would_trade=True)


def determine_actions(inputs: PolicyInput) -> PolicyResult:
    now, session, mode = inputs.now, inputs.session, inputs.mode
    minutes = session.minutes_to_close(now)
    stage = session.stage(now, inputs.thresholds)
    open_today = [p for p in inputs.positions if p.quantity != 0 and p.contract.expiry == session.day]
    unwatched = tuple(p for p in open_today if is_cash_settled(p.contract.symbol))
    expiring = [p for p in open_today if not is_cash_settled(p.contract.symbol)]

    assessments: list[Assessment] = []
    unpriced: dict[str, tuple[list[OptionContract], list[OptionContract]]] = {}
    judged: dict[OptionContract, tuple[_Judgement, Quote | None]] = {}
    clock, fresh_mids = _Clock.of(inputs), _fresh_spots(inputs)
    at_dividend_risk, dividend_unjudged = _dividend_risks(inputs, fresh_mids)
    for position in expiring:
        option_quote = _fresh(inputs.option_quotes.get(position.contract.key), now,
                              inputs.max_option_quote_age_seconds)
        judgement = _judge(position, inputs, stage, clock, fresh_mids, option_quote)
        judged[position.contract] = (judgement, option_quote)
        if judgement.assessment is not None:
            assessments.append(judgement.assessment)
        if not judgement.fresh and mode is not Mode.EMERGENCY and stage is not Stage.CLOSED:
            closing, unjudged = unpriced.setdefault(position.contract.symbol, ([], []))
            (closing if judgement.on_stale is not None else unjudged).append(position.contract)

    structures = _grouped(tuple(expiring))
    plans = _structure_plans([s for s in structures if s.is_multi_leg], judged, inputs)
    decisions: list[Decision] = []
    closing_now: dict[OptionContract, int] = {}
    why: dict[OptionContract, str] = {}  # a leg closed or held for its structure's sake, and why
    held: set[OptionContract] = set()  # legs kept open to protect a short partner (or left alone): never sold
    for single in (s for s in structures if not s.is_multi_leg):
        (leg,) = single.legs
        if judged[leg.contract][0].action is StageAction.CLOSE:
            closing_now[leg.contract] = closing_now.get(leg.contract, 0) + abs(leg.quantity)
    by_contract = {p.contract: p for p in expiring}
    # Each position's working orders, in their order: closing_orders filtered the whole list for every
    # position (N positions x N working orders of ours once they are placed).
    orders_of: dict[OptionContract, list[WorkingOrder]] = {}
    for order in inputs.working_orders:
        orders_of.setdefault(order.contract, []).append(order)
    combo_legs = {order.contract for order in inputs.working_orders
                  if order.combo and is_cleanup_ref(order.order_ref) and order.remaining > 0}
    for structure_assessment in plans:
        plan, structure = structure_assessment.plan, structure_assessment.structure
        if plan.combo and all(c in combo_legs for c in structure.contracts):
            continue  # our combo order closing it is working: nothing more for its legs until it ends
        combo = _combo(structure_assessment, by_contract, judged, inputs, stage, orders_of) if plan.combo else None
        if combo is not None:
            decisions.append(combo)
            continue
        legs_now = _shorts_first(plan) if plan.combo else plan.close
        for leg in structure.legs:
            why.setdefault(leg.contract, f"{structure.name}: {plan.reason}")
            if leg in legs_now:
                closing_now[leg.contract] = closing_now.get(leg.contract, 0) + abs(leg.quantity)
            elif plan.left_alone or (not leg.is_short and structure.partners(leg.contract)):
                held.add(leg.contract)
    for position in expiring:
        judgement, option_quote = judged[position.contract]
        assessment = judgement.assessment
        wanted = closing_now.get(position.contract, 0)
        orders = orders_of.get(position.contract, ())
        hold = why.get(position.contract) if position.contract in held else None
        if judgement.action is StageAction.CLOSE and wanted:
            decisions.extend(_position_decisions(
                position, orders, stage, _close_reason(stage, mode, judgement, now, inputs.rules),
                close=True, option_quote=option_quote, assessment=assessment, limit=wanted))
        elif wanted:  # a short partner closed with a long leg of its structure
            decisions.extend(_position_decisions(
                position, orders, stage, why.get(position.contract, "closed with its structure"),
                close=True, option_quote=option_quote, assessment=assessment, limit=wanted))
        if wanted >= abs(position.quantity):
            continue
        if hold is not None and assessment is not None and judgement.action is not StageAction.NONE:
            decisions.append(Warn(position.contract, stage, f"{stage.value}: held, {hold}", assessment))
            continue
        if judgement.action in (StageAction.WARN, StageAction.WATCH) and assessment is not None:
            decisions.append(Warn(position.contract, stage, _warn_reason(stage, assessment), assessment))
        if stage is Stage.T2 and mode is not Mode.MONITOR and hold is None and not wanted:
            # Near-the-money rule did not fire (or no price): stops still become market orders at T-2; never on a
            # leg held to protect a short one (a stop made a market order would sell the protection).
            decisions.extend(_position_decisions(position, orders, stage,
                                                 "T-2: stops on expiring contracts become market orders", close=False))
    for position, risk, option_quote in at_dividend_risk:
        decisions.extend(_dividend_decisions(position, risk, option_quote, inputs, stage, clock, fresh_mids,
                                             orders_of.get(position.contract, ()), assessments))
    if stage is Stage.T2 or (mode is Mode.EMERGENCY and stage is not Stage.CLOSED):
        decisions.extend(_opening_orders(expiring, inputs.working_orders, session))
    decisions = riskiest_first(decisions, {a.contract: a.moneyness for a in assessments})
    if mode is Mode.MONITOR:
        decisions = [_downgrade_for_monitor(d) for d in decisions]
    stale = tuple(StaleUnderlying(symbol, inputs.spots.get(symbol), tuple(closing), tuple(unjudged))
                  for symbol, (closing, unjudged) in unpriced.items())
    untouchable = _untouchable(expiring, inputs.working_orders, session) \
        if stage in (Stage.T30, Stage.T5, Stage.T2) else ()
    return PolicyResult(stage, minutes, tuple(assessments), tuple(decisions), stale, unwatched, untouchable,
                        tuple(plans), dividend_unjudged)


def _dividend_risks(inputs: PolicyInput, fresh_mids: Mapping[str, float]
                    ) -> tuple[list[tuple[Position, EarlyAssignmentRisk, Quote | None]], tuple[Position, ...]]:
    """The short calls alive after today that a holder is likely to exercise tonight for the dividend of the next
    session's ex-date (``domain.ex_dividend``), judged on fresh prices only; and those in the money whose time
    value is unknown, for want of a fresh option quote (without a fresh price of the underlying nothing is known)."""
    session = inputs.session
    found: list[tuple[Position, EarlyAssignmentRisk, Quote | None]] = []
    unjudged: list[Position] = []
    if not session.ex_dividends:
        return found, ()
    for position in inputs.positions:
        contract = position.contract
        dividend = session.ex_dividend(contract.symbol)
        spot = fresh_mids.get(contract.symbol)
        if position.quantity >= 0 or contract.expiry <= session.day or dividend is None or spot is None:
            continue
        quote = _fresh(inputs.option_quotes.get(contract.key), inputs.now, inputs.max_option_quote_age_seconds)
        mid = quote.mid if quote else None
        risk = early_assignment_risk(position, spot, mid, dividend)
        if risk is not None:
            found.append((position, risk, quote))
        elif mid is None and early_assignment_risk(position, spot, intrinsic(contract.right, contract.strike, spot),
                                                   dividend) is not None:
            unjudged.append(position)  # at risk at no time value: unknown whether it has more than the dividend
    return found, tuple(unjudged)


def _dividend_decisions(position: Position, risk: EarlyAssignmentRisk, option_quote: Quote | None,
                        inputs: PolicyInput, stage: Stage, clock: _Clock, fresh_mids: Mapping[str, float],
                        orders: Sequence[WorkingOrder], assessments: list[Assessment]) -> list[Decision]:
    """A short call at risk of early assignment, judged as an expiring short in the money is (warned at T-30,
    closed from T-5, at once in emergency mode): closed with ``ex_dividend_guard``, else only warned of."""
    judgement = _judge(position, inputs, stage, clock, fresh_mids, option_quote)
    assessment = judgement.assessment
    if assessment is None or judgement.action is StageAction.NONE:
        return []
    assessments.append(assessment)
    prefix = "emergency mode" if inputs.mode is Mode.EMERGENCY else stage.value
    reason = f"{prefix}: ex-dividend, {risk.describe()}"
    if judgement.action is StageAction.CLOSE:
        if inputs.rules.ex_dividend_guard:
            return _position_decisions(position, orders, stage, reason, close=True, option_quote=option_quote,
                                       assessment=assessment)
        if inputs.mode is not Mode.MONITOR:
            reason += " (not closed: ex_dividend_guard is off)"
    return [Warn(position.contract, stage, reason, assessment, ex_dividend=risk)]


@functools.lru_cache(maxsize=16)
def _grouped(positions: tuple[Position, ...]) -> tuple[Structure, ...]:
    """The structures of these positions: the same positions pass after pass, grouped once."""
    return group_structures(positions)


def _structure_plans(structures: Sequence[Structure],
                     judged: Mapping[OptionContract, tuple[_Judgement, Quote | None]],
                     inputs: PolicyInput) -> list[StructureAssessment]:
    """Each multi-leg structure with its plan (``domain.structure_rules``) and delivery."""
    result = []
    for structure in structures:
        closing = {leg.contract: judged[leg.contract][0].action is StageAction.CLOSE for leg in structure.legs}
        spot_quote = _fresh(inputs.spots.get(structure.symbol), inputs.now, inputs.max_quote_age_seconds)
        spot = spot_quote.mid if spot_quote is not None else None
        low = high = fewest = most = None
        if spot is not None:
            vols = [q.implied_vol for _, q in (judged[c] for c in structure.contracts) if q and q.implied_vol]
            session = inputs.session
            low, high = settlement_range(spot, max(vols) if vols else None, session.minutes_to_close(inputs.now),
                                         (session.exercise_cutoff - session.close).total_seconds() / 60.0,
                                         inputs.rules.after_hours_vol_factor)
            fewest, most = structure.delivery_between(low, high)
        every_leg_itm = all((a := judged[c][0].assessment) is not None and a.moneyness > 0 and judged[c][0].fresh
                            for c in structure.contracts)
        settles_flat = (inputs.rules.leave_settled_spreads and inputs.mode is not Mode.EMERGENCY and every_leg_itm
                        and fewest == 0 and most == 0 and any(structure.partners(c) for c in structure.contracts))
        plan = plan_structure(structure, closing, settles_flat=settles_flat)
        result.append(StructureAssessment(structure, structure.delivery_profile(), spot,
                                          structure.delivery(spot) if spot is not None else None,
                                          low, high, fewest, most, plan))
    return result


def _shorts_first(plan: StructurePlan) -> tuple[Leg, ...]:
    """A structure to close whole that cannot go as one combo order: its short legs now, the longs after them."""
    shorts = tuple(leg for leg in plan.structure.legs if leg.is_short)
    return shorts or plan.structure.legs


def _combo(assessment: StructureAssessment, positions: Mapping[OptionContract, Position],
           judged: Mapping[OptionContract, tuple[_Judgement, Quote | None]], inputs: PolicyInput,
           stage: Stage, orders_of: Mapping[OptionContract, Sequence[WorkingOrder]]) -> CloseCombo | None:
    """The combo order closing the whole structure, or None when it cannot be one: a leg with a closing order
    already working (a trader's, or ours), or without a fresh quote outside emergency mode."""
    structure = assessment.structure
    legs: list[Close] = []
    for leg in structure.legs:
        position = positions[leg.contract]
        judgement, quote = judged[leg.contract]
        if closing_orders(position, orders_of.get(leg.contract, ())):
            return None
        if (quote is None or quote.mid is None) and inputs.mode is not Mode.EMERGENCY:
            return None
        reason = _close_reason(stage, inputs.mode, judgement, inputs.now, inputs.rules) \
            if judgement.action is StageAction.CLOSE else "closed with its structure"
        legs.append(_close(position, stage, reason, abs(leg.quantity), quote, judgement.assessment))
    units = math.gcd(*(leg.quantity for leg in legs))
    return CloseCombo(structure, tuple(legs), units, stage, f"{structure.name}: {assessment.plan.reason}", assessment)


def _close_reason(stage: Stage, mode: Mode, judgement: _Judgement, now: datetime, rules: ClosingRules) -> str:
    if mode is Mode.EMERGENCY:
        return "emergency mode: close every expiring position"
    assessment, last = judgement.assessment, judgement.on_stale
    assert assessment is not None
    if last is not None:
        return (f"{stage.value}: clearly in the money ({assessment.moneyness:+.2%}) on the last fresh price "
                f"{assessment.spot:.2f}, {last.at.astimezone(EASTERN):%H:%M:%S} ET, "
                f"stale for {last.age_seconds(now):.0f} s")
    if assessment.moneyness > 0:
        side = " long, worth selling" if assessment.quantity > 0 and rules.lapse_longs else ""
        return f"{stage.value}: in the money ({assessment.moneyness:+.2%}){side}"
    if assessment.quantity < 0:
        return (f"T-2: near the money ({assessment.moneyness:+.2%}), "
                f"{assessment.probability_itm:.0%} chance of assignment by 17:30 ET")
    return f"T-2: near the money ({assessment.moneyness:+.2%})"


def _warn_reason(stage: Stage, assessment: Assessment) -> str:
    return (f"{stage.value}: at risk, moneyness {assessment.moneyness:+.2%}, "
            f"P(ITM) {assessment.probability_itm:.0%}, risk {assessment.level.value}")
