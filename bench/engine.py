"""Execution of one policy on one day: the Executor's rules and the paper broker's fill model, in a loop.

The actor tree takes 10-30 s per afternoon; this loop takes milliseconds. It does not copy the rules:
it calls ``domain.execution``, as the Executor and the paper broker do.

- The Executor's order flow: no second order while one works on the contract; a close is planned by
  ``plan_close`` (at most ``max_attempts``, first price at the attempt number, market without a
  reference mid or in the last call); each second the reference mid, bid and ask of working orders
  follow the market and ``walk_step`` re-prices them (an attempt counts only when a new price is
  sent). Rejected orders count as failures of ``domain.breaker.record_failure``; once tripped nothing
  is sent or walked again that day (a person would have to reset it, and the trader is asleep).
- The paper broker's fills: ``fill_due`` and ``fill_price``. Added here, at the generator's rates: a
  rejected placement (reported on the next second, as the paper broker's events are), and a partial
  fill (half the remainder; the rest waits for the next price change, the liquidity at that level
  being used up).
- Orders still working at the close expire; what is left is settled by ``domain.settlement.settle``.

Rejects and partial fills use common random numbers keyed by (day, position, count), so policies
sending the same order on the same day get the same luck.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bench.generator import Day, GeneratorConfig
from bench.market import DayMarket
from bench.policies import Policy, reference_mid
from config.settings import Settings
from domain.breaker import BreakerState, record_failure
from domain.execution import (
    Priced,
    commission,
    fill_due,
    fill_pnl,
    fill_price,
    fill_slippage,
    plan_close,
    walk_step,
)
from domain.model import Position, Side
from domain.policy import Close
from domain.risk import calculate_moneyness
from domain.settlement import Outcome, settle

T5_SECONDS = 300


@dataclass
class _Order:
    side: Side
    quantity: int
    limit: float | None  # None: market
    attempt: int
    priced_at: int  # seconds before the close
    since: int  # placed or last modified, for the fill delay
    reference_mid: float | None
    bid: float | None
    ask: float | None
    final: bool
    rejected: bool = False
    exhausted: bool = False
    filled: int = 0


@dataclass
class PositionRun:
    """What one policy did with one position on one day."""

    day: int
    position: Position
    outcome: Outcome  # CLOSED when fully closed, else the settlement of what was left
    counterfactual: Outcome  # the settlement had the position been left alone
    closed: int  # contracts closed
    fills: list[tuple[int, float, float | None]] = field(default_factory=list)  # (contracts, price, slippage)
    cost: float = 0.0  # dollars the closes cost against letting the closed contracts expire (+ is worse)
    remaining: int = 0  # contracts left open at the close
    moneyness_t5: float = 0.0
    orders: int = 0
    rejects: int = 0


def _uniform(*keys: int) -> float:
    """A deterministic uniform in [0, 1) from integer keys (splitmix64): the common random numbers."""
    x = 0x9E3779B97F4A7C15
    for key in keys:
        x = (x ^ (key & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        x = (x ^ (x >> 27)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 31
    return (x >> 11) / float(1 << 53)


class DayRun:
    def __init__(self, day: Day, market: DayMarket, policy: Policy, settings: Settings,
                 config: GeneratorConfig) -> None:
        self.day, self.market, self.policy, self.settings, self.config = day, market, policy, settings, config
        self.current = list(day.positions)
        self.index = {p.contract: i for i, p in enumerate(day.positions)}
        self.orders: dict[int, _Order] = {}
        self.attempts = [0] * len(self.current)
        self.placed = [0] * len(self.current)
        self.fills_seen = [0] * len(self.current)
        self.rejects = [0] * len(self.current)
        self.fills: list[list[tuple[int, float, float | None]]] = [[] for _ in self.current]
        self.breaker = BreakerState()

    # --- the loop --------------------------------------------------------------------------------
    def run(self) -> list[PositionRun]:
        decider = self.policy.for_day(self.day, self.market)
        seconds = self.policy.start_seconds
        while seconds > 0:
            self._process(seconds)
            uncovered = [p for i, p in enumerate(self.current) if p.quantity and i not in self.orders]
            closes = decider.decide(seconds, uncovered)
            self._refresh_quotes(seconds)
            for close in closes:
                self._close(close, seconds)
            self._walk(seconds)
            seconds = self._next(seconds)
        return self._results()

    def _next(self, seconds: int) -> int:
        if self.orders or seconds <= self.policy.fine_seconds:
            return seconds - 1
        return max((seconds - 1) // 60 * 60, self.policy.fine_seconds)

    # --- the paper broker ------------------------------------------------------------------------
    def _process(self, seconds: int) -> None:
        for i, order in list(self.orders.items()):
            if order.rejected:
                del self.orders[i]
                self.breaker = record_failure(self.breaker, self.market.now(seconds), self.current[i].contract.key,
                                              self.settings.breaker_max_failures,
                                              self.settings.breaker_window_seconds)
                continue
            if not fill_due(order.since - seconds):
                continue
            if order.exhausted and order.limit is not None:
                continue  # the liquidity at this limit is used up until the price changes
            bid, mid, ask = self.market.book(self.current[i].contract, seconds)
            price = fill_price(order.side, order.limit, bid, mid, ask)
            if price is None:
                continue
            quantity = remaining = order.quantity - order.filled
            if order.limit is not None:
                self.fills_seen[i] += 1
                if remaining >= 2 and _uniform(self.day.seed, i, self.fills_seen[i], 2) < self.config.partial_fill_rate:
                    quantity, order.exhausted = remaining // 2, True
            self._fill(i, order, quantity, price)

    def _fill(self, i: int, order: _Order, quantity: int, price: float) -> None:
        self.fills[i].append((quantity, price, fill_slippage(order.side, order.reference_mid, price)))
        position = self.current[i]
        delta = quantity if order.side is Side.BUY else -quantity
        self.current[i] = replace(position, quantity=position.quantity + delta)
        order.filled += quantity
        if order.filled >= order.quantity:
            del self.orders[i]

    # --- the Executor ----------------------------------------------------------------------------
    def _refresh_quotes(self, seconds: int) -> None:
        for i, order in self.orders.items():
            bid, mid, ask = self.market.book(self.current[i].contract, seconds)
            order.reference_mid, order.bid, order.ask = reference_mid(bid, mid, ask), bid, ask

    def _close(self, decision: Close, seconds: int) -> None:
        i = self.index[decision.contract]
        settings = self.settings
        if i in self.orders or self.breaker.tripped:
            return
        used = self.attempts[i]
        plan = plan_close(decision.quantity, self.current[i], (), decision.reference_mid, decision.bid,
                          decision.ask, used, seconds, settings, at_market=self.policy.market_orders)
        if plan is None:
            return
        self.attempts[i] = used + 1
        self.placed[i] += 1
        rejected = self.policy.rejects and _uniform(self.day.seed, i, self.placed[i], 1) < self.config.reject_rate
        self.rejects[i] += rejected
        self.orders[i] = _Order(plan.side, plan.quantity, plan.price.limit, plan.price.attempt, seconds, seconds,
                                decision.reference_mid, decision.bid, decision.ask, final=plan.price.final,
                                rejected=rejected)

    def _walk(self, seconds: int) -> None:
        for i, order in self.orders.items():
            if order.final or order.rejected or self.breaker.tripped:
                continue
            used = self.attempts[i]
            step = walk_step(order.side, order.reference_mid, order.bid, order.ask, Priced(order.attempt, order.limit),
                             used, order.priced_at - seconds, seconds, self.settings)
            if step is None:
                continue
            order.attempt, order.priced_at = step.price.attempt, seconds
            if not step.send:
                continue  # the same price again: nothing sent, no attempt used
            self.attempts[i] = used + 1
            order.since, order.final, order.limit, order.exhausted = seconds, step.price.final, step.price.limit, False

    # --- settlement ------------------------------------------------------------------------------
    def _results(self) -> list[PositionRun]:
        day = self.day
        close, after = day.close_spot, day.after_hours
        t5_spot = day.spot(T5_SECONDS)
        runs = []
        for i, original in enumerate(day.positions):
            left = self.current[i]
            counterfactual = settle(original, close, after)
            outcome = settle(left, close, after) if left.quantity else Outcome.CLOSED
            contract = original.contract
            fills = self.fills[i]
            closed = sum(q for q, _, _ in fills)
            runs.append(PositionRun(
                day.index, original, outcome, counterfactual, closed, fills,
                _closing_cost(original, counterfactual, fills, after), abs(left.quantity),
                calculate_moneyness(t5_spot, contract.strike, contract.right), self.placed[i], self.rejects[i]))
        return runs


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


def run_day(day: Day, policies: list[Policy], settings: Settings,
            config: GeneratorConfig) -> dict[str, list[PositionRun]]:
    market = DayMarket(day)
    return {policy.name: DayRun(day, market, policy, settings, config).run() for policy in policies}
