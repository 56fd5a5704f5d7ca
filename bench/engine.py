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
- A ``CloseCombo`` (a structure closed whole) is one combo order (bench/broker.py ``place_combo``): its units
  sized from the book leg by leg, its net ``combo_net`` of each leg's ``price_at`` price, walked as a single
  close is (with its own budget of attempts, never its legs' contracts'), then at market.
- Orders still working at the close expire; what is left is settled by ``domain.settlement.settle``, and
  the lapse desk (``domain.lapse.lapses_due``) sees every position left, so it knows the structures.
- Structures are ``domain.structures.group_structures`` of the day's positions: each position's run names
  the kind of the spread it is a leg of (vertical, butterfly, iron condor; "single" otherwise), and the
  day counts the naked contracts left (``naked_contracts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from math import gcd

from bench.broker import BenchBroker, ComboOrder, Fill, OurOrder
from bench.generator import SYMBOL, WINDOW_SECONDS, Day, GeneratorConfig
from bench.market import DayMarket
from bench.policies import Action, Policy
from config.schema import Settings
from domain.book import Book, OwnFill
from domain.breaker import BreakerState, record_failure, record_order
from domain.cadence import poll_due
from domain.execution import (
    attempts_left,
    combo_net,
    commission,
    fill_pnl,
    fill_slippage,
    in_last_call,
    plan_close,
    price_at,
    walk_step,
)
from domain.lapse import lapses_due
from domain.model import SHARES_PER_CONTRACT, OptionContract, OrderType, Position, Right, WorkingOrder
from domain.order_refs import make_combo_ref, make_order_ref
from domain.policy import CancelOrder, Close, CloseCombo, ConvertStop, closable_quantity
from domain.risk import calculate_moneyness
from domain.settlement import SETTLE_AFTER_CLOSE, Outcome, intrinsic, settle
from domain.stages import Thresholds
from domain.structures import StructureKind, group_structures

T5_SECONDS = 300
# The structures whose legs cover each other (a short with long partners): straddles and strangles are two
# singles to the closing rules, and are reported with them.
SPREADS = (StructureKind.VERTICAL, StructureKind.BUTTERFLY, StructureKind.IRON_CONDOR)
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
    structure: str = "single"  # the kind of spread (engine.SPREADS) it is a leg of, or "single"


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
        self.broker = BenchBroker(day, market, config, rejects=policy.rejects,
                                  messages_per_second=settings.ib_messages_per_second)
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
        self.combos = 0  # combo orders placed
        self.combo_sequence = 0
        self.structures = tuple(s for s in group_structures(day.positions) if s.kind in SPREADS)
        self.naked_legs = 0  # set by _results

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
        failed: set[str] = set()
        for order in [o for o in self.orders if o.rejected]:
            self.orders.remove(order)
            if order.order.order_id not in failed:  # a rejected combo is one failure, not one per leg
                failed.add(order.order.order_id)
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
            elif isinstance(decision, CloseCombo):
                self._close_combo(decision.legs, seconds, view)
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
        sent = self._send(seconds, close=True)
        self.rejects[i] += rejected
        order = WorkingOrder(f"{i}.{self.sequence[i]}", contract, plan.side,
                             OrderType.MARKET if plan.price.final else OrderType.LIMIT, plan.quantity,
                             limit_price=plan.price.limit, order_ref=make_order_ref(contract, self.sequence[i]))
        self.orders.append(OurOrder(i, order, sent, decision.reference_mid, decision.bid, decision.ask,
                                    plan.price.attempt, seconds, plan.price.final, rejected=rejected))
        view.working.setdefault(contract, []).append(order)
        view.own.add(contract)

    def _close_combo(self, legs: Sequence[Close], seconds: int, view: _View) -> None:
        """One combo order closing ``legs`` together (the Executor's rules, per leg where they are per contract)."""
        positions = [view.positions.get(leg.contract) for leg in legs]
        if any(leg.contract in view.own for leg in legs) or len({leg.contract for leg in legs}) < len(legs):
            return
        held: list[Position] = []
        for leg, position in zip(legs, positions, strict=True):
            if position is None or leg.side is not position.closing_side:
                return
            held.append(position)
        common = 0
        for leg in legs:
            common = gcd(common, leg.quantity)
        if common <= 0:
            return
        ratios = tuple(leg.quantity // common for leg in legs)
        units = min(min(leg.quantity, closable_quantity(position, view.working.get(leg.contract, []))) // ratio
                    for leg, position, ratio in zip(legs, held, ratios, strict=True))
        if units <= 0:
            return
        indices = [self.broker.index[leg.contract] for leg in legs]
        # a combo order has its own budget of attempts, as in the Executor (actors/executor_combos.py)
        final = self.policy.market_orders or in_last_call(seconds) or any(leg.reference_mid is None for leg in legs)
        attempt = self.settings.max_attempts - 1 if final else 0
        net = None if final else self._combo_net(legs, ratios, attempt)
        final = net is None
        for leg, position, ratio, i in zip(legs, held, ratios, indices, strict=True):
            if self.broker.refusal(leg.side, ratio * units, position.quantity, i, self.orders, seconds):
                self.guard_refusals += 1
                self.poll_wanted = True
                return
        self.combos += 1
        self.combo_sequence += 1
        for i in indices:
            self.placed[i] += 1
        rejected = self.broker.place_combo(indices)
        sent = self._send(seconds, close=True)
        for i in indices:
            self.rejects[i] += rejected
        order_id = f"combo.{self.combo_sequence}"
        ref = make_combo_ref([leg.contract for leg in legs], self.combo_sequence)
        combo = ComboOrder(order_id, [], ratios, units, net, sent, attempt, seconds, final, rejected=rejected,
                           used=1)
        for leg, ratio, i in zip(legs, ratios, indices, strict=True):
            order = WorkingOrder(order_id, leg.contract, leg.side, OrderType.MARKET if final else OrderType.LIMIT,
                                 ratio * units, limit_price=net, order_ref=ref, combo=True)
            ours = OurOrder(i, order, sent, leg.reference_mid, leg.bid, leg.ask, attempt, seconds, final,
                            rejected=rejected, combo=combo)
            combo.legs.append(ours)
            self.orders.append(ours)
            view.working.setdefault(leg.contract, []).append(order)
            view.own.add(leg.contract)

    def _combo_net(self, legs: Sequence[Close | OurOrder], ratios: tuple[int, ...], attempt: int) -> float | None:
        """The net of one unit at attempt ``attempt``: ``combo_net`` of each leg's ``price_at`` price (None: market)."""
        prices = []
        for leg, ratio in zip(legs, ratios, strict=True):
            side = leg.side if isinstance(leg, Close) else leg.order.side
            priced = price_at(side, leg.reference_mid, leg.bid, leg.ask, attempt, self.settings)
            if priced.limit is None:
                return None
            prices.append((side, ratio, priced.limit))
        return round(combo_net(prices), 2)

    def _walk_combo(self, combo: ComboOrder, seconds: int) -> None:
        """The walk of a single close, on the net: a new net every interval (every second in the last call, at
        market there), one attempt of every leg each time a new net is sent; the last attempt at market."""
        if combo.final or combo.rejected:
            return
        last_call = in_last_call(seconds)
        if combo.priced_at - seconds < self.settings.attempt_interval_seconds and not last_call:
            return
        used = combo.used
        if not attempts_left(used, self.settings):
            return
        attempt = self.settings.max_attempts - 1 if last_call else max(used, combo.attempt + 1)
        net = self._combo_net(combo.legs, combo.ratios, attempt)
        combo.attempt, combo.priced_at = attempt, seconds
        if net is not None and net == combo.limit:
            return  # the same net again: nothing sent, no attempt used
        combo.used = used + 1
        combo.priced_again(net, attempt, seconds, final=net is None, sent=self._send(seconds))

    def _convert(self, order: WorkingOrder, seconds: int) -> None:
        if order.order_id in self.handled:
            return
        self.handled.add(order.order_id)
        sent = self._send(seconds)
        taken = self.broker.take_over(order.order_id)
        if taken is None:  # filled meanwhile: the broker refuses the change, a failure as in the Executor
            self.handled.discard(order.order_id)
            self._failure(order.contract, self.market.now(seconds))
            return
        i, market = taken
        self.orders.append(OurOrder(i, market, sent, None, None, None, self.settings.max_attempts - 1, seconds,
                                    final=True, converted=True))

    def _cancel(self, order: WorkingOrder, seconds: int) -> None:
        if order.order_id in self.handled:
            return
        self.handled.add(order.order_id)
        self.broker.send(seconds)
        cancelled = self.broker.cancel(order.order_id)
        if cancelled is not None:  # confirmed: what it filled is known, the rest is the policy's to close
            self.book = self.book.with_order_ended(order, cancelled.filled, self.market.now(seconds))
            self.poll_wanted = True

    def _walk(self, seconds: int) -> None:
        walked: set[str] = set()
        for order in self.orders:
            if order.final or order.rejected or self.breaker.tripped:
                continue
            if order.combo is not None:
                if order.combo.order_id not in walked:
                    walked.add(order.combo.order_id)
                    self._walk_combo(order.combo, seconds)
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
            order.since, order.final, order.exhausted = self._send(seconds), step.price.final, False

    def _send(self, seconds: int, **options: bool) -> float:
        """One order or price change to the broker, counted by the breaker as the Executor's are."""
        sent = self.broker.send(seconds, **options)
        self.breaker = record_order(self.breaker, self.market.now(seconds), self.settings.breaker_window_seconds)
        return sent

    def _failure(self, contract: OptionContract, now: datetime) -> None:
        self.breaker = record_failure(self.breaker, now, contract.key, self.settings.breaker_max_failures,
                                      self.settings.breaker_window_seconds, self.settings.breaker_min_failure_ratio)

    # --- settlement ------------------------------------------------------------------------------
    def _lapsed(self, left: list[Position], close: float) -> list[int]:
        """Contracts of each position the service would lapse after the bell (domain.lapse, as the LapseDesk is
        asked: with every position left, so a long covering an assigned short is kept)."""
        if not self.policy.lapses:
            return [0] * len(left)
        session = self.day.session
        held = [p for p in left if p.quantity]
        plan = lapses_due(held, {SYMBOL: close}, session, session.close + SETTLE_AFTER_CLOSE, {})
        due = {lapse.contract: lapse.quantity for lapse in plan.due}
        return [due.get(p.contract, 0) if p.quantity > 0 else 0 for p in left]

    def _results(self) -> list[PositionRun]:
        day = self.day
        close, after = day.close_spot, day.after_hours
        t5_spot = day.spot(T5_SECONDS)
        runs = []
        all_lapsed = self._lapsed(self.broker.positions, close)
        kinds = {leg.contract: structure.kind.value for structure in reversed(self.structures)
                 for leg in structure.legs}
        for i, original in enumerate(day.positions):
            left = self.broker.positions[i]
            counterfactual = settle(original, close, after)
            lapsed = all_lapsed[i]
            outcome = settle(left, close, after, lapsed) if left.quantity else Outcome.CLOSED
            contract = original.contract
            fills = self.fills[i]
            runs.append(PositionRun(
                day.index, original, outcome, counterfactual, sum(q for q, _, _ in fills), fills,
                _closing_cost(original, counterfactual, fills, after) + _lapse_cost(contract, lapsed, after),
                abs(left.quantity), calculate_moneyness(t5_spot, contract.strike, contract.right), self.placed[i],
                self.rejects[i], self.spread_paid[i], self.trader_filled[i], lapsed, kinds.get(contract, "single")))
        self.naked_legs = naked_contracts(runs, self.broker.positions) if self.structures else 0
        return runs


def naked_contracts(runs: list[PositionRun], left: list[Position]) -> int:
    """Contracts' worth of shares the day's expiration delivered beyond what leaving every position alone would
    have, per right (calls and puts net apart, as the account nets them): what closing or lapsing one leg of a
    spread while its partner stayed cost. Closing a single leg never adds to it: its delivery only shrinks.

    Counted on the whole account, not per structure: the contracts of a position split between structures are
    one lot at the broker, so which structure's part was closed is not a fact to attribute."""
    net_with: dict[Right, int] = {Right.CALL: 0, Right.PUT: 0}
    net_alone: dict[Right, int] = {Right.CALL: 0, Right.PUT: 0}
    for run, remaining in zip(runs, left, strict=True):
        right = run.position.contract.right
        if run.outcome in (Outcome.EXERCISED, Outcome.ASSIGNED):
            net_with[right] += remaining.quantity - run.lapsed if remaining.quantity > 0 else remaining.quantity
        if run.counterfactual in (Outcome.EXERCISED, Outcome.ASSIGNED):
            net_alone[right] += run.position.quantity
    return sum(max(abs(net_with[r]) - abs(net_alone[r]), 0) for r in (Right.CALL, Right.PUT))


def _lapse_cost(contract: OptionContract, lapsed: int, after_hours: float) -> float:
    """Lapsed, a long in the money gives up the shares' value over the strike (marked at 17:30 ET)."""
    return intrinsic(contract.right, contract.strike, after_hours) * SHARES_PER_CONTRACT * lapsed


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
    structures: int = 0  # spreads among the day's positions (domain.structures; engine.SPREADS)
    naked_legs_left: int = 0  # contracts delivered beyond leaving everything alone (engine.naked_contracts)
    combos: int = 0  # combo orders placed
    closes_sent: list[float] = field(default_factory=list)  # when each placement went out (bench/broker.py send)


def run_day(day: Day, policies: list[Policy], settings: Settings,
            config: GeneratorConfig) -> dict[str, tuple[list[PositionRun], DayTally]]:
    market = DayMarket(day)
    result = {}
    for policy in policies:
        run = DayRun(day, market, policy, settings, config)
        runs = run.run()
        result[policy.name] = (runs, DayTally(run.guard_refusals, run.broker.over_closes, len(run.structures),
                                              run.naked_legs, run.combos, run.broker.closes_sent))
    return result
