"""The benchmark's broker: the paper broker's fill model (``domain.execution``) on the day's market, misbehaving
as IB does at the generator's rates.

- Our orders fill by ``working_fill``; a placement may be rejected (reported the next
  second) and a limit fill may be partial (half the remainder; the rest waits for the next price
  change, the liquidity at that level being used up). Its last guard is the IB gateway's
  (``domain.book.over_close``).
- The trader's orders rest from T-35 on the day's positions: stops trigger on the mid and fill at
  market, limits fill by the same rule as ours (``working_fill``, the paper broker's). They change the
  position; nothing reports it to the service but the next read of orders and positions.
- Reads lag fills: each fill shows in position reads only after a drawn delay.
- Combo orders (``place_combo``): one order on several legs, filled whole or not at all by
  ``domain.execution.combo_fill`` after the same fill delay, never partially; nothing else is new (a
  placement may be rejected at the same rate, each leg passes the same last guard).

- Pacing as IB's (``domain.pacing``, the paper broker's helper, at the ``ib_messages_per_second`` setting):
  each placement, change of price, conversion and cancel is one message (``send``), sent in turn; an order
  works (its fill delay counts) from when it went out. ``closes_sent`` keeps when each placement went out.
  A conversion or cancel takes its turn but acts at once (the engine does not wait on them).

Every draw uses common random numbers keyed by (day, position, count), so policies sending the same
order on the same day get the same luck.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from bench.generator import Day, GeneratorConfig
from bench.market import DayMarket
from config.loader import default_values
from domain.book import over_close
from domain.execution import ComboLegQuote, Priced, combo_fill, fill_due, working_fill
from domain.model import OrderType, Position, Side, WorkingOrder
from domain.pacing import Pacer, paced_rate


@dataclass
class OurOrder:
    """One of our orders, as the Executor follows it and the broker works it."""

    index: int  # the position's
    order: WorkingOrder  # as the broker holds it: type, limit, quantity, filled
    since: float  # sent (placed or last modified), seconds before the close: the fill delay counts from here
    reference_mid: float | None
    bid: float | None
    ask: float | None
    attempt: int
    priced_at: int
    final: bool  # a market order: nothing left to walk
    converted: bool = False  # a trader's stop made a market order: it uses no attempts
    rejected: bool = False
    exhausted: bool = False  # a partial fill used up the liquidity at this limit
    combo: ComboOrder | None = None  # one leg of this combo: it fills, walks and is rejected only with it

    @property
    def priced(self) -> Priced:
        return Priced(self.attempt, self.order.limit_price)


@dataclass
class ComboOrder:
    """One combo order of ours: the legs (each an OurOrder in its contracts, the net as its limit), ``units``
    of ``ratios``; ``limit`` None a market combo."""

    order_id: str
    legs: list[OurOrder]
    ratios: tuple[int, ...]
    units: int
    limit: float | None
    since: float
    attempt: int
    priced_at: int
    final: bool
    rejected: bool = False
    used: int = 0  # prices sent: the combo's own budget of attempts, never its legs' contracts'

    def priced_again(self, limit: float | None, attempt: int, seconds: int, final: bool,
                     sent: float | None = None) -> None:
        """A new net (or market) sent for the whole combo (going out at ``sent``, ``seconds`` when not paced):
        every leg shows it, the fill delay restarts."""
        since = seconds if sent is None else sent
        self.limit, self.attempt, self.priced_at, self.since, self.final = limit, attempt, seconds, since, final
        order_type = OrderType.MARKET if final else OrderType.LIMIT
        for leg in self.legs:
            leg.order = replace(leg.order, order_type=order_type, limit_price=limit)
            leg.since, leg.final, leg.attempt, leg.priced_at = since, final, attempt, seconds


@dataclass(frozen=True)
class Fill:
    index: int
    side: Side
    quantity: int
    price: float
    ours: OurOrder | None  # None: a fill of the trader's own order


@dataclass
class _Resting:
    order: WorkingOrder
    index: int
    since: int


def uniform(*keys: int) -> float:
    """A deterministic uniform in [0, 1) from integer keys (splitmix64): the common random numbers."""
    x = 0x9E3779B97F4A7C15
    for key in keys:
        x = (x ^ (key & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        x = (x ^ (x >> 27)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 31
    return (x >> 11) / float(1 << 53)


class BenchBroker:
    def __init__(self, day: Day, market: DayMarket, config: GeneratorConfig, rejects: bool,
                 messages_per_second: float | None = None) -> None:
        self.day, self.market, self.config, self.rejects = day, market, config, rejects
        rate = messages_per_second if messages_per_second is not None else default_values()["ib_messages_per_second"]
        self.pacer = Pacer(paced_rate(rate))
        self.closes_sent: list[float] = []  # when each placement (single or combo) went out, seconds before the close
        self.positions = list(day.positions)  # the truth, not what reads show
        self.index = {p.contract: i for i, p in enumerate(day.positions)}
        self.trader: dict[str, _Resting] = {}
        self._moves: list[tuple[float, int, int]] = []  # (shown from this second before the close, position, delta)
        self._fills = [0] * len(self.positions)
        self._placed = [0] * len(self.positions)
        self.over_closes = 0  # fills of ours that opened a position or took one through zero

    # --- orders ------------------------------------------------------------------------------------
    def rest(self, orders: tuple[WorkingOrder, ...], seconds: int) -> None:
        """The trader's orders arrive; only on positions still held as they were (a trader does not bracket a
        position the broker already liquidated)."""
        for order in orders:
            i = self.index[order.contract]
            if self.positions[i].quantity == self.day.positions[i].quantity:
                self.trader[order.order_id] = _Resting(order, i, seconds)

    def refusal(self, side: Side, quantity: int, sized_against: int, index: int, ours: list[OurOrder],
                seconds: int) -> str:
        """The IB gateway's last guard on a placement ("" when it goes out)."""
        working = sum(o.order.remaining for o in ours if o.index == index and o.order.side is side)
        return over_close(side, quantity, sized_against, self._reported(index, seconds), working)

    def send(self, seconds: int, close: bool = False) -> float:
        """One message asked for at ``seconds`` before the close: when it goes out (seconds before the close), in
        turn at IB's rate; ``close``: a placement, kept in ``closes_sent``."""
        sent = -self.pacer.slot(-seconds)
        if close:
            self.closes_sent.append(sent)
        return sent

    def place(self, index: int) -> bool:
        """Whether the placement is rejected (reported the next second, as the paper broker's events are)."""
        self._placed[index] += 1
        return self.rejects and uniform(self.day.seed, index, self._placed[index], 1) < self.config.reject_rate

    def place_combo(self, indices: list[int]) -> bool:
        """A combo on these positions' legs goes out: whether it is rejected (one draw, keyed by its first leg,
        at the same rate as a single order's); each leg's placement is counted as one."""
        for index in indices:
            self._placed[index] += 1
        first = indices[0]
        return self.rejects and uniform(self.day.seed, first, self._placed[first], 1) < self.config.reject_rate

    def cancel(self, order_id: str) -> WorkingOrder | None:
        """The trader's order, cancelled if it was still working (a done order is no longer there)."""
        resting = self.trader.pop(order_id, None)
        return resting.order if resting else None

    def take_over(self, order_id: str) -> tuple[int, WorkingOrder] | None:
        """A trader's stop made a market order: from now on ours, its fills our executions."""
        resting = self.trader.pop(order_id, None)
        if resting is None:
            return None
        return resting.index, replace(resting.order, order_type=OrderType.MARKET, stop_price=None, limit_price=None)

    # --- the market --------------------------------------------------------------------------------
    def process(self, seconds: int, ours: list[OurOrder]) -> list[Fill]:
        fills: list[Fill] = []
        combos: dict[str, ComboOrder] = {}
        for order in ours:
            if order.combo is not None:
                combos.setdefault(order.combo.order_id, order.combo)
            elif (fill := self._ours(order, seconds)) is not None:
                fills.append(fill)
        for combo in combos.values():
            fills += self._combo(combo, seconds)
        for order_id, resting in list(self.trader.items()):
            fill = self._trader(resting, seconds)
            if fill is not None:
                del self.trader[order_id]
                fills.append(fill)
        return fills

    def _ours(self, order: OurOrder, seconds: int) -> Fill | None:
        if order.rejected or (order.exhausted and not order.final):
            return None
        bid, mid, ask = self.market.book(order.order.contract, seconds)
        _, price = working_fill(order.order, order.since - seconds, bid, mid, ask)
        if price is None:
            return None
        quantity = remaining = order.order.remaining
        if not order.final:
            i = order.index
            self._fills[i] += 1
            if remaining >= 2 and uniform(self.day.seed, i, self._fills[i], 2) < self.config.partial_fill_rate:
                quantity, order.exhausted = remaining // 2, True
        order.order = replace(order.order, filled=order.order.filled + quantity)
        return self._move(order.index, order.order.side, quantity, price, seconds, ours=order)

    def _combo(self, combo: ComboOrder, seconds: int) -> list[Fill]:
        """Every leg at once or none: ``combo_fill`` on the legs' books, once the fill delay has passed."""
        if combo.rejected or not fill_due(combo.since - seconds) or all(leg.order.remaining == 0 for leg in combo.legs):
            return []
        quotes = tuple(ComboLegQuote(leg.order.side, ratio, *self.market.book(leg.order.contract, seconds))
                       for leg, ratio in zip(combo.legs, combo.ratios, strict=True))
        prices = combo_fill(quotes, None if combo.final else combo.limit)
        if prices is None:
            return []
        fills = []
        for leg, price in zip(combo.legs, prices, strict=True):
            quantity = leg.order.remaining
            leg.order = replace(leg.order, filled=leg.order.quantity)
            fills.append(self._move(leg.index, leg.order.side, quantity, price, seconds, ours=leg))
        return fills

    def _trader(self, resting: _Resting, seconds: int) -> Fill | None:
        bid, mid, ask = self.market.book(resting.order.contract, seconds)
        resting.order, price = working_fill(resting.order, resting.since - seconds, bid, mid, ask)
        if price is None:
            return None
        return self._move(resting.index, resting.order.side, resting.order.remaining, price, seconds, ours=None)

    def _move(self, index: int, side: Side, quantity: int, price: float, seconds: int,
              ours: OurOrder | None) -> Fill:
        before = self.positions[index].quantity
        after = before + side.signed(quantity)
        # our closes may only reduce: one that opens from flat or goes through zero is an over-close
        self.over_closes += ours is not None and (before == 0 or (after != 0 and (after > 0) != (before > 0)))
        self.positions[index] = replace(self.positions[index], quantity=after)
        self._fills[index] += 1
        u = uniform(self.day.seed, index, self._fills[index], 3)
        lag = min(-self.config.position_lag_mean_seconds * math.log(1 - u), self.config.position_lag_max_seconds)
        self._moves.append((seconds - lag, index, side.signed(quantity)))
        return Fill(index, side, quantity, price, ours)

    # --- reads -------------------------------------------------------------------------------------
    def read(self, seconds: int, ours: list[OurOrder]) -> tuple[list[Position], list[WorkingOrder]]:
        """Positions as a read shows them (fills younger than their lag not in yet), then the working orders."""
        self._moves = [m for m in self._moves if m[0] < seconds]
        positions = [replace(p, quantity=self._reported(i, seconds)) for i, p in enumerate(self.positions)]
        orders = [r.order for r in self.trader.values()] + [o.order for o in ours if not o.rejected]
        return [p for p in positions if p.quantity], orders

    def _reported(self, index: int, seconds: int) -> int:
        unseen = sum(delta for shown, i, delta in self._moves if i == index and shown < seconds)
        return self.positions[index].quantity - unseen
