"""Execution of one policy on one day: the service's loop (read, decide, order, walk) against the bench's broker.

The actor tree takes 10-30 s per afternoon; this loop takes milliseconds. It copies no rule: it calls
the code the service runs.

- Reads: ``domain.cadence.poll_due`` (every minute from T-5, at once after one of our fills) reads
  positions and orders from the broker (bench/broker.py: position reads lag fills); the book of
  ``domain.book`` takes in the reads and our executions, and every decision and every close is sized
  from its certain positions and its working orders, the trader's included.
- Decisions: the policy (bench/policies.py) on what the book and the feed show.
- The Executor's order flow: no second order while one of ours works on the contract; ``plan_close``
  (at most ``max_attempts``, first price at the attempt number, market without a reference mid or in
  the last call) after the broker's last guard; each second the reference mid of working orders
  follows the feed's fresh quotes and ``walk_step`` re-prices them (an attempt counts only when a new
  price is sent). A trader's stop the policy converts becomes our market order; one it cancels is gone
  once the broker confirms, and the book hears of it. Rejects, and conversions of orders no longer
  there, are failures of ``domain.breaker.record_failure``; once tripped nothing is sent or walked
  again that day (a person would have to reset it, and the trader is asleep).
- Orders still working at the close expire; what is left is settled by ``domain.settlement.settle``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from bench.broker import BenchBroker, Fill, OurOrder
from bench.generator import WINDOW_SECONDS, Day, GeneratorConfig
from bench.market import DayMarket
from bench.policies import Action, Policy
from config.settings import Settings
from domain.book import Book, OwnFill
from domain.breaker import BreakerState, record_failure
from domain.cadence import poll_due
from domain.execution import MULTIPLIER, commission, fill_pnl, fill_slippage, plan_close, walk_step
from domain.lapse import lapses_due
from domain.model import OptionContract, OrderType, Position, WorkingOrder
from domain.order_refs import make_order_ref
from domain.policy import CancelOrder, Close, ConvertStop
from domain.risk import calculate_moneyness
from domain.settlement import SETTLE_AFTER_CLOSE, Outcome, intrinsic, settle
from domain.stages import Thresholds

T5_SECONDS = 300
STAGES = Thresholds()  # the stage times the poller's cadence follows (the policy's own are the same)


@dataclass
class PositionRun:
    """What one policy did with one position on one day."""

    day: int
    position: Position
    outcome: Outcome  # CLOSED when fully closed, else the settlement of what was left
    counterfactual: Outcome  # the settlement had the position been left alone
    closed: int  # contracts closed by our orders (converted stops included)
    fills: list[tuple[int, float, float | None]] = field(default_factory=list)  # (contracts, price, slippage)
    cost: float = 0.0  # dollars the closes cost against letting the closed contracts expire (+ is worse)
    remaining: int = 0  # contracts left open at the close
    moneyness_t5: float = 0.0
    orders: int = 0
    rejects: int = 0
    spread_paid: float = 0.0  # dollars our fills gave up against the option's mid, commission included
    trader_filled: int = 0  # contracts the trader's own resting orders filled
    lapsed: int = 0  # contracts lapsed after the close (kept from exercise, their value given up)


@dataclass
class _View:
    """The book as one batch of decisions sees it (as the Executor's BatchView)."""

    positions: dict[OptionContract, Position]
    working: dict[OptionContract, list[WorkingOrder]]
    own: set[OptionContract]


class DayRun:
    def __init__(self, day: Day, market: DayMarket, policy: Policy, settings: Settings,
                 config: GeneratorConfig) -> None:
        self.day, self.market, self.policy, self.settings, self.config = day, market, policy, settings, config
        self.broker = BenchBroker(day, market, config, rejects=policy.rejects)
        n = len(day.positions)
        self.orders: list[OurOrder] = []  # ours, until filled (or rejected)
        self.book = Book()
        self.last_poll: datetime | None = None
        self.poll_wanted = False
        self.attempts, self.placed, self.rejects, self.sequence = [0] * n, [0] * n, [0] * n, [0] * n
        self.fills: list[list[tuple[int, float, float | None]]] = [[] for _ in range(n)]
        self.spread_paid, self.trader_filled = [0.0] * n, [0] * n
        self.handled: set[str] = set()  # trader orders converted or cancelled, once each
        self.breaker = BreakerState()
        self.guard_refusals = 0
        self.executions = 0

    # --- the loop --------------------------------------------------------------------------------
    def run(self) -> list[PositionRun]:
        decider = self.policy.for_day(self.day, self.market, self.settings)
        seconds = max(self.policy.start_seconds, WINDOW_SECONDS)
        rested = False
        while seconds > 0:
            if not rested and seconds <= WINDOW_SECONDS:
                self.broker.rest(self.day.orders, seconds)
                rested = True
            self._process(seconds)
            self._poll(seconds)
            own = tuple(o.order for o in self.orders)
            if own != self.book.own_orders:
                self.book = self.book.with_own_orders(own)
            positions, working = self.book.effective_positions(), self.book.working_orders()
            decisions = decider.decide(seconds, positions, working)
            self._refresh_quotes(seconds)
            if decisions:
                self._apply(decisions, seconds, positions, working)
            self._walk(seconds)
            seconds = self._next(seconds)
        return self._results()

    def _next(self, seconds: int) -> int:
        if self.orders or self.poll_wanted or seconds <= self.policy.fine_seconds:
            return seconds - 1
        return max((seconds - 1) // 60 * 60, self.policy.fine_seconds)

    # --- the broker's side -----------------------------------------------------------------------
    def _process(self, seconds: int) -> None:
        now = self.market.now(seconds)
        for order in [o for o in self.orders if o.rejected]:
            self.orders.remove(order)
            self._failure(order.order.contract, now)
        for fill in self.broker.process(seconds, self.orders):
            if fill.ours is not None:
                self._our_fill(fill.ours, fill, seconds, now)
            else:
                self.trader_filled[fill.index] += fill.quantity
        self.orders = [o for o in self.orders if o.order.remaining > 0]

    def _our_fill(self, order: OurOrder, fill: Fill, seconds: int, now: datetime) -> None:
        _, mid, _ = self.market.book(order.order.contract, seconds)
        self.fills[fill.index].append((fill.quantity, fill.price, fill_slippage(fill.side, order.reference_mid,
                                                                                 fill.price)))
        self.spread_paid[fill.index] += ((fill_slippage(fill.side, mid, fill.price) or 0.0) * 100 * fill.quantity
                                         + commission(fill.quantity))
        self.executions += 1
        self.book = self.book.with_fill(OwnFill(f"exec {self.executions}", order.order.contract, fill.side,
                                                fill.quantity, now))
        self.poll_wanted = True  # the PositionPoller reads again right after a fill

    def _poll(self, seconds: int) -> None:
        now = self.market.now(seconds)
        if not poll_due(self.last_poll, now, self.day.session.stage(now, STAGES), True, self.poll_wanted):
            return
        positions, orders = self.broker.read(seconds, self.orders)
        self.book = self.book.with_own_orders(o.order for o in self.orders).with_snapshot(
            positions, orders, now, self.settings.position_lag_seconds)
        self.last_poll, self.poll_wanted = now, False

    # --- the Executor ----------------------------------------------------------------------------
    def _refresh_quotes(self, seconds: int) -> None:
        now = self.market.now(seconds)
        for order in self.orders:
            quote = self.market.option_quote(order.order.contract, seconds)
            if quote.age_seconds(now) <= self.settings.option_quote_max_age_seconds and quote.mid is not None:
                order.reference_mid, order.bid, order.ask = quote.mid, quote.bid, quote.ask

    def _apply(self, decisions: list[Action], seconds: int, positions: list[Position],
               working_orders: list[WorkingOrder]) -> None:
        working: dict[OptionContract, list[WorkingOrder]] = {}
        for order in working_orders:
            working.setdefault(order.contract, []).append(order)
        view = _View({p.contract: p for p in positions}, working, {o.order.contract for o in self.orders})
        for decision in decisions:
            if self.breaker.tripped:
                return
            if isinstance(decision, Close):
                self._close(decision, seconds, view)
            elif isinstance(decision, ConvertStop):
                self._convert(decision.order, seconds)
            elif isinstance(decision, CancelOrder):
                self._cancel(decision.order, seconds)

    def _close(self, decision: Close, seconds: int, view: _View) -> None:
        contract = decision.contract
        position = view.positions.get(contract)
        if contract in view.own or position is None or decision.side is not position.closing_side:
            return
        i = self.broker.index[contract]
        used = self.attempts[i]
        plan = plan_close(decision.quantity, position, view.working.get(contract, []), decision.reference_mid,
                          decision.bid, decision.ask, used, seconds, self.settings,
                          at_market=self.policy.market_orders)
        if plan is None:
            return
        if self.broker.refusal(plan.side, plan.quantity, position.quantity, i, self.orders, seconds):
            self.guard_refusals += 1
            self.poll_wanted = True  # the Executor asks for a read when the guard fires
            return
        self.attempts[i] = used + 1
        self.placed[i] += 1
        self.sequence[i] += 1
        rejected = self.broker.place(i)
        self.rejects[i] += rejected
        order = WorkingOrder(f"{i}.{self.sequence[i]}", contract, plan.side,
                             OrderType.MARKET if plan.price.final else OrderType.LIMIT, plan.quantity,
                             limit_price=plan.price.limit, order_ref=make_order_ref(contract, self.sequence[i]))
        self.orders.append(OurOrder(i, order, seconds, decision.reference_mid, decision.bid, decision.ask,
                                    plan.price.attempt, seconds, plan.price.final, rejected=rejected))
        view.working.setdefault(contract, []).append(order)
        view.own.add(contract)

    def _convert(self, order: WorkingOrder, seconds: int) -> None:
        if order.order_id in self.handled:
            return
        self.handled.add(order.order_id)
        taken = self.broker.take_over(order.order_id)
        if taken is None:  # filled meanwhile: the broker refuses the change, a failure as in the Executor
            self.handled.discard(order.order_id)
            self._failure(order.contract, self.market.now(seconds))
            return
        i, market = taken
        self.orders.append(OurOrder(i, market, seconds, None, None, None, self.settings.max_attempts - 1, seconds,
                                    final=True, converted=True))

    def _cancel(self, order: WorkingOrder, seconds: int) -> None:
        if order.order_id in self.handled:
            return
        self.handled.add(order.order_id)
        cancelled = self.broker.cancel(order.order_id)
        if cancelled is not None:  # confirmed: what it filled is known, the rest is the policy's to close
            self.book = self.book.with_order_ended(order, cancelled.filled, self.market.now(seconds))
            self.poll_wanted = True

    def _walk(self, seconds: int) -> None:
        for order in self.orders:
            if order.final or order.rejected or self.breaker.tripped:
                continue
            i = order.index
            used = self.attempts[i]
            step = walk_step(order.order.side, order.reference_mid, order.bid, order.ask, order.priced, used,
                             order.priced_at - seconds, seconds, self.settings)
            if step is None:
                continue
            order.attempt, order.priced_at = step.price.attempt, seconds
            if not step.send:
                continue  # the same price again: nothing sent, no attempt used
            self.attempts[i] = used + 1
            order.order = replace(order.order, order_type=OrderType.MARKET if step.price.final else OrderType.LIMIT,
                                  limit_price=step.price.limit)
            order.since, order.final, order.exhausted = seconds, step.price.final, False

    def _failure(self, contract: OptionContract, now: datetime) -> None:
        self.breaker = record_failure(self.breaker, now, contract.key, self.settings.breaker_max_failures,
                                      self.settings.breaker_window_seconds)

    # --- settlement ------------------------------------------------------------------------------
    def _lapsed(self, left: Position, close: float) -> int:
        """Contracts the service would lapse after the bell (domain.lapse, as the LapseDesk is asked)."""
        if not self.policy.lapses or left.quantity <= 0:
            return 0
        session = self.day.session
        plan = lapses_due([left], {left.contract.symbol: close}, session, session.close + SETTLE_AFTER_CLOSE, {})
        return sum(lapse.quantity for lapse in plan.due)

    def _results(self) -> list[PositionRun]:
        day = self.day
        close, after = day.close_spot, day.after_hours
        t5_spot = day.spot(T5_SECONDS)
        runs = []
        for i, original in enumerate(day.positions):
            left = self.broker.positions[i]
            counterfactual = settle(original, close, after)
            lapsed = self._lapsed(left, close)
            outcome = settle(left, close, after, lapsed) if left.quantity else Outcome.CLOSED
            contract = original.contract
            fills = self.fills[i]
            runs.append(PositionRun(
                day.index, original, outcome, counterfactual, sum(q for q, _, _ in fills), fills,
                _closing_cost(original, counterfactual, fills, after) + _lapse_cost(contract, lapsed, after),
                abs(left.quantity), calculate_moneyness(t5_spot, contract.strike, contract.right), self.placed[i],
                self.rejects[i], self.spread_paid[i], self.trader_filled[i], lapsed))
        return runs


def _lapse_cost(contract: OptionContract, lapsed: int, after_hours: float) -> float:
    """Lapsed, a long in the money gives up the shares' value over the strike (marked at 17:30 ET)."""
    return intrinsic(contract.right, contract.strike, after_hours) * MULTIPLIER * lapsed


def _closing_cost(position: Position, counterfactual: Outcome, fills: list[tuple[int, float, float | None]],
                  after_hours: float) -> float:
    """Dollars lost by closing against leaving the same contracts to expire, commissions included.

    Left alone, an exercised or assigned contract becomes shares at the strike, marked here at the
    17:30 ET price (so the after-hours move counts); an expiring one is worth nothing.
    """
    contract = position.contract
    payoff = 0.0
    if counterfactual in (Outcome.EXERCISED, Outcome.ASSIGNED):
        payoff = after_hours - contract.strike if contract.right.value == "C" else contract.strike - after_hours
    side = position.closing_side
    return -sum(fill_pnl(side, price, payoff, quantity, commission(quantity)) or 0.0 for quantity, price, _ in fills)


@dataclass
class DayTally:
    """What no position's run shows: over-closes the broker's guard refused, and those that went through."""

    guard_refusals: int = 0
    over_closes: int = 0


def run_day(day: Day, policies: list[Policy], settings: Settings,
            config: GeneratorConfig) -> dict[str, tuple[list[PositionRun], DayTally]]:
    market = DayMarket(day)
    result = {}
    for policy in policies:
        run = DayRun(day, market, policy, settings, config)
        result[policy.name] = (run.run(), DayTally(run.guard_refusals, run.broker.over_closes))
    return result
