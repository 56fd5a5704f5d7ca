"""Execution of one policy on one day: the Executor's semantics and the paper broker's fill rule, in a loop.

The actor tree takes 10-30 s per afternoon; this loop takes milliseconds and keeps what decides the
KPIs, each rule named after the code it mirrors:

- Executor._close: no second order while one works on the contract; at most ``max_attempts`` per
  position; the first price is ``limit_price`` at attempt ``used``; a market order when there is no
  reference mid or under ``LAST_CALL_SECONDS`` to the close. Rejected orders count as failures.
- Executor._apply / _walk: each second the reference mid, bid and ask of working orders follow the
  market; every ``attempt_interval_seconds`` (every second in the last call) the limit walks one
  attempt further, the last attempt being a market order.
- CircuitBreaker: ``domain.breaker.record_failure``; once tripped nothing is sent or walked again
  that day (a person would have to reset it, and the trader is asleep).
- PaperBroker.process: an order fills once it has worked ``fill_delay`` seconds since it was placed
  or modified, at its limit when the limit reaches halfway from the mid to the far touch, market
  orders at the far touch, never below $0.01. Added here, at the generator's rates: a rejected
  placement (reported on the next second, as the paper broker's events are), and a partial fill (half
  the remainder; the rest waits for the next price change, the liquidity at that level being used up).
- Orders still working at the close expire; what is left is settled by ``domain.settlement.settle``.

Rejects and partial fills use common random numbers keyed by (day, position, count), so policies
sending the same order on the same day get the same luck.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from actors.executor import LAST_CALL_SECONDS
from bench.generator import Day, GeneratorConfig
from bench.market import DayMarket
from bench.policies import Policy, reference_mid
from config.settings import Settings
from domain.breaker import BreakerState, record_failure
from domain.model import Position, Side
from domain.policy import Close
from domain.pricing import limit_price, slippage_per_share
from domain.risk import calculate_moneyness
from domain.settlement import Outcome, settle

FILL_DELAY_SECONDS = 1  # PaperBroker's default fill_delay_seconds
COMMISSION_PER_CONTRACT = 0.65  # PaperBroker's commission
MULTIPLIER = 100
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
            if order.since - seconds < FILL_DELAY_SECONDS:
                continue
            bid, mid, ask = self.market.book(self.current[i].contract, seconds)
            remaining = order.quantity - order.filled
            if order.limit is None:
                self._fill(i, order, remaining, bid if order.side is Side.SELL else ask)
                continue
            if order.exhausted:
                continue
            if order.side is Side.SELL:
                marketable = order.limit <= (mid + bid) / 2 + 1e-9
            else:
                marketable = order.limit >= (mid + ask) / 2 - 1e-9
            if not marketable:
                continue
            quantity = remaining
            self.fills_seen[i] += 1
            if remaining >= 2 and _uniform(self.day.seed, i, self.fills_seen[i], 2) < self.config.partial_fill_rate:
                quantity, order.exhausted = remaining // 2, True
            self._fill(i, order, quantity, order.limit)

    def _fill(self, i: int, order: _Order, quantity: int, price: float) -> None:
        price = max(price, 0.01)
        slippage = slippage_per_share(order.side, order.reference_mid, price) \
            if order.reference_mid is not None else None
        self.fills[i].append((quantity, price, slippage))
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
        if used >= settings.max_attempts:
            return
        quantity = min(decision.quantity, abs(self.current[i].quantity))
        if quantity <= 0:
            return
        final = decision.reference_mid is None or seconds <= LAST_CALL_SECONDS or self.policy.market_orders
        attempt = settings.max_attempts - 1 if final else used
        price = self._price(decision.side, decision.reference_mid, decision.bid, decision.ask, attempt)
        self.attempts[i] = used + 1
        self.placed[i] += 1
        rejected = self.policy.rejects and _uniform(self.day.seed, i, self.placed[i], 1) < self.config.reject_rate
        self.rejects[i] += rejected
        self.orders[i] = _Order(decision.side, quantity, price, attempt, seconds, seconds, decision.reference_mid,
                                decision.bid, decision.ask, final=price is None, rejected=rejected)

    def _walk(self, seconds: int) -> None:
        settings = self.settings
        last_call = seconds <= LAST_CALL_SECONDS
        for i, order in self.orders.items():
            if order.final or order.rejected or (order.priced_at - seconds < settings.attempt_interval_seconds
                                                 and not last_call):
                continue
            used = self.attempts[i]
            if used >= settings.max_attempts or self.breaker.tripped:
                continue
            attempt = settings.max_attempts - 1 if last_call else max(used, order.attempt + 1)
            price = self._price(order.side, order.reference_mid, order.bid, order.ask, attempt)
            self.attempts[i] = used + 1
            order.attempt, order.priced_at, order.since, order.final = attempt, seconds, seconds, price is None
            order.limit, order.exhausted = price, False

    def _price(self, side: Side, mid: float | None, bid: float | None, ask: float | None, attempt: int) -> float | None:
        if mid is None:
            return None
        settings = self.settings
        return limit_price(side, mid, bid, ask, attempt, settings.max_attempts, settings.max_slippage)

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
    cost = 0.0
    for quantity, price, _ in fills:
        per_share = payoff - price if position.quantity > 0 else price - payoff
        cost += (per_share * MULTIPLIER + COMMISSION_PER_CONTRACT) * quantity
    return cost


def run_day(day: Day, policies: list[Policy], settings: Settings,
            config: GeneratorConfig) -> dict[str, list[PositionRun]]:
    market = DayMarket(day)
    return {policy.name: DayRun(day, market, policy, settings, config).run() for policy in policies}
