"""The AssignmentDesk's disposal (``dispose_assignments = close``): at the 09:30 ET open, flatten the shares the
expiration delivered, one order per underlying, walked from the touch across ``dispose_band`` to market
(domain.disposal), every step audited (DISPOSAL).

Idempotent across restarts: the order ref is one per session and symbol (domain.order_refs.make_disposal_ref),
and before sending, the broker's stock orders are asked for it; one found is followed, never sent again. A new
process whose morning check runs after a disposal filled finds no delivered shares left (the change against the
shares held at the close is gone), so it has nothing to dispose either. Monitor mode and a closed trading gate
(kill switch, breaker) send nothing: the would-be order is audited once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime

from domain import alerts
from domain.alerts import Alert
from domain.assignments import Delivery
from domain.audit import ActionKind, ActionRecord
from domain.disposal import DisposalWalk, disposal_side, first_price, next_price, shares_to_dispose, walk_for
from domain.execution import Priced
from domain.feed_errors import FeedError
from domain.model import OrderType, Quote, Side
from domain.order_refs import make_disposal_ref
from gateways.broker import BrokerError, OrderStatus, StockOrderRequest, StockOrderState
from gateways.ports import Broker, PriceSource

log = logging.getLogger("cleanup.morning")


@dataclass(frozen=True)
class Disposal:
    """One underlying's disposal: ``done`` once filled, refused or given up (said once)."""

    symbol: str
    side: Side
    shares: int = 0
    order_id: str = ""
    priced: Priced | None = None
    priced_at: datetime | None = None
    attempts: int = 0
    walk: DisposalWalk | None = None
    done: bool = False
    held_back: bool = False  # not sent while trading is not allowed (said once)


@dataclass(frozen=True)
class Context:
    """What a disposal step needs from its desk."""

    session_day: date  # the expiration the shares came from
    broker: Broker
    source: PriceSource
    may_trade: Callable[[], str]  # "" when orders may go out, else why not
    band: float
    max_attempts: int
    interval: float
    audit: Callable[[ActionRecord], None]
    alert: Callable[[Alert], None]
    base: Callable[..., ActionRecord]  # the desk's record builder: (what, now, kind, **fields)


def step(ctx: Context, delivery: Delivery, disposal: Disposal | None, now: datetime) -> Disposal:
    """One tick of one underlying's disposal; returns its new state."""
    current = disposal or Disposal(delivery.symbol, disposal_side(delivery.attributed))
    if current.done:
        return current
    ref = make_disposal_ref(ctx.session_day, delivery.symbol)
    try:
        if not current.order_id:
            return _start(ctx, delivery, current, ref, now)
        return _follow(ctx, current, ref, now)
    except BrokerError as error:  # unreachable or refused: said in the log, tried again next tick
        log.warning("disposal of %s: %s", delivery.symbol, error)
        return current


def _start(ctx: Context, delivery: Delivery, current: Disposal, ref: str, now: datetime) -> Disposal:
    sent = next((s for s in ctx.broker.stock_orders() if s.order_ref == ref), None)
    if sent is not None:  # sent before a restart: follow it, never send a second
        ctx.audit(ctx.base(f"disposal:{ref}:adopted", now, ActionKind.DISPOSAL, symbol=current.symbol,
                           quantity=current.side.signed(sent.shares), order_ref=ref, order_id=sent.order_id,
                           reason=f"disposal {ref} already sent: followed, not sent again"))
        return replace(current, shares=sent.shares, order_id=sent.order_id, priced=Priced(0, sent.limit_price),
                       priced_at=now, attempts=1)
    held = {s.symbol: s.shares for s in ctx.broker.stock_positions()}.get(current.symbol, 0)
    shares = shares_to_dispose(delivery.attributed, held)
    if shares == 0:
        ctx.audit(ctx.base(f"disposal:{ref}:nothing", now, ActionKind.DISPOSAL, symbol=current.symbol, quantity=0,
                           order_ref=ref, reason=f"nothing to dispose: {held:+d} {current.symbol} held now"))
        return replace(current, done=True)
    why_not = ctx.may_trade()
    if why_not:  # said once; sent on a later tick if trading resumes (active mode, kill switch released)
        if not current.held_back:
            ctx.audit(ctx.base(f"disposal:{ref}:held back", now, ActionKind.DISPOSAL, symbol=current.symbol,
                               quantity=current.side.signed(shares), order_ref=ref,
                               reason=f"would {current.side.value.lower()} {shares} {current.symbol}, not sent: "
                                      f"{why_not}"))
        return replace(current, held_back=True)
    quote = _quote(ctx, current.symbol)
    walk = walk_for(current.side, quote, ctx.band, ctx.max_attempts, ctx.interval)
    priced = first_price(current.side, quote, walk)
    order_type = OrderType.MARKET if priced.final else OrderType.LIMIT
    order_id = ctx.broker.place_stock_order(StockOrderRequest(
        current.symbol, current.side, shares, order_type, priced.limit, ref, held))
    ctx.audit(ctx.base(f"disposal:{ref}:sent", now, ActionKind.DISPOSAL, symbol=current.symbol,
                       quantity=current.side.signed(shares), order_ref=ref, order_id=order_id,
                       reference_mid=quote.mid if quote else None,
                       reason=f"{current.side.value} {shares} {current.symbol} "
                              f"{'at market' if priced.final else f'limit {priced.limit:.2f}'}: shares the "
                              f"{ctx.session_day} expiration delivered",
                       details={"band": ctx.band, "held": held}))
    return replace(current, shares=shares, order_id=order_id, priced=priced, priced_at=now, attempts=1, walk=walk)


def _follow(ctx: Context, current: Disposal, ref: str, now: datetime) -> Disposal:
    state = next((s for s in ctx.broker.stock_orders() if s.order_id == current.order_id), None)
    if state is not None and state.status is OrderStatus.FILLED:
        return _ended(ctx, current, state, ref, now, success=True)
    if state is not None and state.status.is_final:
        return _ended(ctx, current, state, ref, now, success=False)
    if current.priced is None or current.priced.final or current.priced_at is None:
        return current  # a market order: nothing left to walk
    quote = _quote(ctx, current.symbol)
    walk = current.walk or walk_for(current.side, quote, ctx.band, ctx.max_attempts, ctx.interval)
    move = next_price(current.side, quote, current.priced, current.attempts,
                      (now - current.priced_at).total_seconds(), walk)
    if move is None or not move.send:
        return current
    ctx.broker.modify_stock_order(current.order_id, move.price.limit)
    return replace(current, priced=move.price, priced_at=now, attempts=current.attempts + 1, walk=walk)


def _ended(ctx: Context, current: Disposal, state: StockOrderState, ref: str, now: datetime, *,
           success: bool) -> Disposal:
    ctx.audit(ctx.base(f"disposal:{ref}:{state.status.value}", now, ActionKind.DISPOSAL, symbol=current.symbol,
                       quantity=current.side.signed(state.filled), order_ref=ref, order_id=state.order_id,
                       execution_price=state.average_price, success=success,
                       reason=f"{current.side.value} {state.filled} {current.symbol} {state.status.value}"
                              + (f" at {state.average_price:.2f}" if state.average_price else ""),
                       error=None if success else (state.message or state.status.value),
                       details={"attempts": current.attempts}))
    if success:
        ctx.alert(alerts.disposal_done(current.symbol, state.filled, current.side.value, state.average_price, ref))
    else:
        ctx.alert(alerts.disposal_failed(current.symbol, current.shares, current.side.value,
                                         state.message or state.status.value))
    return replace(current, done=True)


def _quote(ctx: Context, symbol: str) -> Quote | None:
    try:
        return ctx.source.underlying_quote(symbol)
    except FeedError as error:
        log.warning("disposal of %s without a quote (%s): at market", symbol, error)
        return None
