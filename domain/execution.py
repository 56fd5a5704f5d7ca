"""The execution rules, in one place: the Executor, the paper broker and the benchmark all call these.

- Planning a close: the quantity is what is certainly open minus our closing orders that may still
  work (``closable_quantity``), on the side that reduces the position; the first price is
  ``limit_price`` at the attempt number, a market order when there is no reference mid or under
  ``LAST_CALL_SECONDS`` to the close.
- The walk: a working limit is re-priced every ``attempt_interval_seconds`` (every second in the last
  call, where it goes to market at once), one attempt further each time; the last attempt is a market
  order. An attempt counts only when a new price is sent: the same price again is not sent.
- The fill model of the paper broker (and the benchmark's): an order fills once it has worked
  ``FILL_DELAY_SECONDS`` since it was placed or modified; a limit fills at its limit once it reaches
  halfway from the mid to the far touch (liquidity inside the spread), a market order at the far
  touch, never below $0.01; commission per contract.
- A fill's slippage (against the reference mid the order held) and P&L (against a cost basis, net of
  commission).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Protocol

from domain.model import SHARES_PER_CONTRACT, OrderType, Position, Side, WorkingOrder
from domain.policy import closable_quantity
from domain.pricing import MIN_PRICE, limit_price, slippage_per_share

# Under this many seconds to the close a working limit goes to market at once.
LAST_CALL_SECONDS = 30.0
FILL_DELAY_SECONDS = 1.0
COMMISSION_PER_CONTRACT = 0.65
_EPSILON = 1e-9  # prices are cents held in floats


class WalkSettings(Protocol):
    """The settings the walk reads (config.schema.Settings has them)."""

    @property
    def max_attempts(self) -> int: ...

    @property
    def attempt_interval_seconds(self) -> float: ...

    @property
    def max_slippage(self) -> float: ...


@dataclass(frozen=True)
class Priced:
    """One price on the walk: ``attempt`` is its 0-based index, ``limit`` None a market order."""

    attempt: int
    limit: float | None

    @property
    def final(self) -> bool:
        return self.limit is None


@dataclass(frozen=True)
class ClosePlan:
    side: Side
    quantity: int
    price: Priced


@dataclass(frozen=True)
class WalkStep:
    price: Priced
    send: bool  # a new price for the broker, one attempt more; False: the same price again, nothing sent


def in_last_call(seconds_to_close: float) -> bool:
    return seconds_to_close <= LAST_CALL_SECONDS


def attempts_left(used: int, settings: WalkSettings) -> bool:
    return used < settings.max_attempts


def price_at(side: Side, reference_mid: float | None, bid: float | None, ask: float | None, attempt: int,
             settings: WalkSettings) -> Priced:
    """The price of attempt ``attempt``; without a reference mid only a market order can be sent."""
    if reference_mid is None:
        return Priced(attempt, None)
    return Priced(attempt, limit_price(side, reference_mid, bid, ask, attempt, settings.max_attempts,
                                       settings.max_slippage))


def plan_close(requested: int, position: Position, working: Iterable[WorkingOrder], reference_mid: float | None,
               bid: float | None, ask: float | None, used: int, seconds_to_close: float, settings: WalkSettings, *,
               at_market: bool = False) -> ClosePlan | None:
    """The order closing (part of) ``position``, or None when nothing may be sent: no attempts left, or
    nothing left to close. ``position`` is the certain one (domain/book.py), ``working`` every order that
    may still work on its contract, ``used`` the attempts already sent."""
    if not attempts_left(used, settings):
        return None
    side = position.closing_side
    quantity = min(requested, closable_quantity(position, working))
    if quantity <= 0:
        return None
    final = at_market or reference_mid is None or in_last_call(seconds_to_close)
    attempt = settings.max_attempts - 1 if final else used
    return ClosePlan(side, quantity, price_at(side, reference_mid, bid, ask, attempt, settings))


def walk_step(side: Side, reference_mid: float | None, bid: float | None, ask: float | None, working: Priced,
              used: int, seconds_since_priced: float, seconds_to_close: float,
              settings: WalkSettings) -> WalkStep | None:
    """The next price of a working limit (callers skip their market orders: nothing left to walk), or None
    when none is due: too soon since the last price outside the last call, or no attempts left."""
    attempt = _next_attempt(working, used, seconds_since_priced, seconds_to_close, settings)
    if attempt is None:
        return None
    return _step(price_at(side, reference_mid, bid, ask, attempt, settings), working)


def _next_attempt(working: Priced, used: int, seconds_since_priced: float, seconds_to_close: float,
                  settings: WalkSettings) -> int | None:
    """The attempt a working order's next price is at (the last one in the last call), or None when none is
    due: too soon since the last price outside the last call, or no attempts left."""
    last_call = in_last_call(seconds_to_close)
    if seconds_since_priced < settings.attempt_interval_seconds and not last_call:
        return None
    if not attempts_left(used, settings):
        return None
    return settings.max_attempts - 1 if last_call else max(used, working.attempt + 1)


def _step(price: Priced, working: Priced) -> WalkStep:
    return WalkStep(price, send=price.final or price.limit != working.limit)


@dataclass(frozen=True)
class ComboLegPrice:
    """A leg of a combo to price: its closing side, contracts per unit, and the quote it was decided on."""

    side: Side
    ratio: int
    reference_mid: float | None
    bid: float | None
    ask: float | None


def combo_price_at(legs: Iterable[ComboLegPrice], attempt: int, settings: WalkSettings) -> Priced:
    """A combo's net limit at attempt ``attempt``: each leg priced as a single close of it would be (so each
    concedes at most the slippage cap), netted; a market order when any leg has no reference mid."""
    priced = [(leg.side, leg.ratio, price_at(leg.side, leg.reference_mid, leg.bid, leg.ask, attempt, settings).limit)
              for leg in legs]
    if any(price is None for _, _, price in priced):
        return Priced(attempt, None)
    return Priced(attempt, round(combo_net((side, ratio, price or 0.0) for side, ratio, price in priced), 2))


def combo_walk_step(legs: tuple[ComboLegPrice, ...], working: Priced, used: int, seconds_since_priced: float,
                    seconds_to_close: float, settings: WalkSettings) -> WalkStep | None:
    """``walk_step`` for a combo's net limit: the same timing, attempts and last call."""
    attempt = _next_attempt(working, used, seconds_since_priced, seconds_to_close, settings)
    if attempt is None:
        return None
    return _step(combo_price_at(legs, attempt, settings), working)


# --- the fill model ------------------------------------------------------------------------------
def fill_due(seconds_working: float, fill_delay_seconds: float = FILL_DELAY_SECONDS) -> bool:
    """An order fills no sooner than the delay after it was placed or last modified."""
    return seconds_working >= fill_delay_seconds


def fill_price(side: Side, limit: float | None, bid: float, mid: float, ask: float) -> float | None:
    """What a working order fills at on this book, or None when it does not fill: a market order (``limit``
    None) at the far touch, a limit at its limit once it reaches halfway from the mid to the far touch."""
    if limit is None:
        price = bid if side is Side.SELL else ask
    else:
        fill_line = (mid + bid) / 2 if side is Side.SELL else (mid + ask) / 2
        marketable = limit <= fill_line + _EPSILON if side is Side.SELL else limit >= fill_line - _EPSILON
        if not marketable:
            return None
        price = limit
    return max(price, MIN_PRICE)


@dataclass(frozen=True)
class ComboLegQuote:
    """One leg of a combo on the book: its side in the combo, contracts per unit, and its quote."""

    side: Side
    ratio: int
    bid: float
    mid: float
    ask: float


def combo_net(legs: Iterable[tuple[Side, int, float]]) -> float:
    """The net per share of one unit at these leg prices: bought legs cost, sold legs bring (negative: a credit)."""
    return sum(ratio * price if side is Side.BUY else -ratio * price for side, ratio, price in legs)


def combo_fill(legs: tuple[ComboLegQuote, ...], limit: float | None) -> tuple[float, ...] | None:
    """The price of each leg a combo fills at on this book, or None when it does not fill now: filled whole or
    not at all. Each leg's line is where a single order of it fills (``fill_price``: the far touch for a
    market combo); a limit fills when the net of those lines is no worse than it, at the limit (the first
    leg takes the difference, as a single limit fills at its limit)."""
    lines = [fill_price(leg.side, None, leg.bid, leg.mid, leg.ask) if limit is None
             else max((leg.mid + leg.bid) / 2 if leg.side is Side.SELL else (leg.mid + leg.ask) / 2, MIN_PRICE)
             for leg in legs]
    prices = [price for price in lines if price is not None]
    if len(prices) != len(legs):
        return None
    if limit is None:
        return tuple(prices)
    net = combo_net((leg.side, leg.ratio, price) for leg, price in zip(legs, prices, strict=True))
    if net > limit + _EPSILON:
        return None
    first = legs[0]
    # the first leg bought dearer, or sold cheaper, by what the limit leaves over the lines
    shift = (limit - net) / first.ratio
    prices[0] = round(max(prices[0] + shift if first.side is Side.BUY else prices[0] - shift, MIN_PRICE), 4)
    return tuple(prices)


def stop_triggered(side: Side, stop_price: float | None, mid: float) -> bool:
    """A sell stop triggers at or below its price, a buy stop at or above, on the option's mid."""
    if side is Side.SELL:
        return mid <= (stop_price or 0.0)
    return mid >= (stop_price or float("inf"))


def working_fill(order: WorkingOrder, seconds_working: float, bid: float, mid: float, ask: float,
                 fill_delay_seconds: float = FILL_DELAY_SECONDS) -> tuple[WorkingOrder, float | None]:
    """One working order on this book: the order as it now stands (a triggered stop is a market order)
    and the price it fills at, None when it does not fill now."""
    if order.is_stop:
        if not stop_triggered(order.side, order.stop_price, mid):
            return order, None
        order = replace(order, order_type=OrderType.MARKET, stop_price=None)
    if not fill_due(seconds_working, fill_delay_seconds):
        return order, None
    if order.order_type is OrderType.MARKET:
        return order, fill_price(order.side, None, bid, mid, ask)
    if order.limit_price is None:
        return order, None
    return order, fill_price(order.side, order.limit_price, bid, mid, ask)


def commission(quantity: int) -> float:
    return round(COMMISSION_PER_CONTRACT * quantity, 2)


# --- what a fill did -----------------------------------------------------------------------------
def fill_slippage(side: Side, reference_mid: float | None, price: float | None) -> float | None:
    """Dollars per share worse than the reference mid the order held (None without one)."""
    if reference_mid is None or price is None:
        return None
    return slippage_per_share(side, reference_mid, price)


def fill_pnl(side: Side, price: float | None, basis: float, quantity: int, paid: float) -> float | None:
    """What closing ``quantity`` at ``price`` realised against ``basis`` per share (the position's cost),
    net of the commission ``paid``."""
    if price is None:
        return -paid or None
    sign = 1 if side is Side.SELL else -1
    return sign * (price - basis) * quantity * SHARES_PER_CONTRACT - paid
