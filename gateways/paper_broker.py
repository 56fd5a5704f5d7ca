"""The paper broker: fills against the simulated market after a short delay, settles like OCC.

Fill rule (``domain.execution``, shared with the benchmark): a resting limit fills once it has worked
``fill_delay_seconds`` and its price reaches the fill line, halfway from the mid to the far touch
(liquidity inside the spread); it fills at its limit. Market orders fill at the far touch. Stops
trigger on the option's mid and then fill as market orders. Every fill is reported as an execution
first, then the order's new state, as IB does.

It misbehaves the way IB does when the simulator asks (scenario faults): rejects, no fills,
disconnects; position reads that lag fills by ``position_lag_seconds``; orders of the trader's that
this client may not change (placed in TWS or by another program); a contract whose every order is
refused. Its last guard is the IB gateway's (``domain.book.over_close``).

Combo orders (``place_combo``) are one order on several legs, filled whole or not at all by
``domain.execution.combo_fill`` on the legs' books after the same fill delay; each leg fills as an
execution of its own (the combo's order id and orderRef, the leg's contract), then one OrderEvent in
units names the first leg. ``working_orders`` lists a working combo once per leg (``combo=True``, the
leg's contracts, the net as the limit). ``refuse_combos`` makes it a broker without combo routing.

It paces as IB makes a client pace (``domain.pacing``, at the ``ib_messages_per_second`` setting): each
place, modify and cancel is one message, checked when asked (connected, the last guard, ours to change)
and then sent in turn, first in first out; one beyond the rate waits in the outbox and goes out on a
later ``process(now)`` (virtual time), never dropped. An order works, and can fill, only from when it
was sent; its Submitted (or reject) is reported then, and it is in the open-order list only from then,
as at IB. ``sent_at`` records when each paced message went out. Reads (positions, orders, executions,
a lapse) are answered at once: counted as messages, not paced.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from config.loader import default_values
from domain.book import over_close
from domain.clock import Clock
from domain.ex_dividend import outcome_tonight
from domain.execution import FILL_DELAY_SECONDS, ComboLegQuote, combo_fill, commission, fill_due, working_fill
from domain.feed_errors import FeedError
from domain.lapse import cutoff_text, lapse_cutoff
from domain.model import Execution, OptionContract, OrderType, Position, Side, StockPosition, WorkingOrder
from domain.pacing import Pacer, paced_rate
from domain.settlement import Outcome, delivery, settle
from gateways.broker import (
    BrokerError,
    BrokerEvent,
    BrokerUnavailable,
    ComboLegRequest,
    ComboRefused,
    ComboRequest,
    LapseResult,
    LapseStatus,
    OrderEvent,
    OrderNotOurs,
    OrderRefused,
    OrderRequest,
    OrderStatus,
    StockOrderRequest,
    StockOrderState,
)
from gateways.paper_stock import PaperStockOrders
from gateways.sim_market import SimulatedMarket


@dataclass
class _Working:
    order: WorkingOrder
    since: datetime
    ours: bool  # placed through this client (or taken over by it): its fills are our executions
    sent: bool = True  # False: still in the outbox, not working yet


@dataclass
class _Combo:
    """A working combo of ours: ``order`` is its head (the first leg, in units, the net as the limit)."""

    order: WorkingOrder
    legs: tuple[ComboLegRequest, ...]
    since: datetime
    sent: bool = True  # False: still in the outbox, not working yet

    def leg_orders(self) -> list[WorkingOrder]:
        """One WorkingOrder per leg, in the leg's contracts, as a broker's open-order list shows a combo."""
        head = self.order
        return [replace(head, contract=leg.contract, side=leg.side, quantity=leg.ratio * head.quantity,
                        filled=leg.ratio * head.filled) for leg in self.legs]


@dataclass(frozen=True)
class _Moved:
    at: datetime
    contract: OptionContract
    delta: int


class PaperBroker:
    def __init__(self, market: SimulatedMarket, clock: Clock, positions: Sequence[Position] = (),
                 orders: Sequence[WorkingOrder] = (), *, stock: Sequence[StockPosition] = (),
                 fill_delay_seconds: float = FILL_DELAY_SECONDS,
                 account: str = "DU0000000", position_lag_seconds: float = 0.0, refuse_combos: bool = False,
                 messages_per_second: float | None = None) -> None:
        self.market = market
        self.clock = clock
        self.fill_delay_seconds = fill_delay_seconds
        self.position_lag = timedelta(seconds=position_lag_seconds)
        self._account = account
        self._lock = threading.Lock()
        self._positions = {p.contract: p for p in positions}
        self._stock = {s.symbol: s for s in stock if s.shares}  # the trader's shares; settle() adds deliveries
        self._stock_orders = PaperStockOrders(fill_delay_seconds)
        self._moves: list[_Moved] = []  # fills not yet old enough for every read to show them
        self._working = {o.order_id: _Working(o, clock.now(), False) for o in orders}
        self._combos: dict[str, _Combo] = {}
        self.refuse_combos = refuse_combos  # no combo routing: every place_combo raises ComboRefused
        self._ids = itertools.count(1001)
        self._exec_ids = itertools.count(1)
        self._executions: list[Execution] = []
        self._handler: Callable[[BrokerEvent], None] = lambda event: None
        self._pending_events: list[BrokerEvent] = []
        self._rejects_left = 0
        self._refused_contracts: set[str] = set()
        self._lapsed: dict[OptionContract, int] = {}  # lapse instructions taken, honoured at settlement
        self._no_fill_until: datetime | None = None
        self._down_until: datetime | None = None
        self._connected_at = clock.now()
        self._messages = 0
        rate = messages_per_second if messages_per_second is not None else default_values()["ib_messages_per_second"]
        self._pacer = Pacer(paced_rate(rate))
        self._origin = clock.now()  # the pacer's timeline: seconds from here
        self._outbox: deque[tuple[datetime, Callable[[datetime], None]]] = deque()  # (goes out at, send)
        self.sent_at: list[datetime] = []  # when each paced message went out, in order
        self.placed: list[OrderRequest] = []  # every order ever sent, for tests and the summary
        self.placed_combos: list[ComboRequest] = []  # every combo ever sent

    # --- Broker interface ------------------------------------------------------------------------
    def connect(self) -> None:
        self._check_connected()

    def disconnect(self) -> None:
        """Nothing to release: the paper broker lives in this process."""

    def is_connected(self) -> bool:
        return self._down_until is None or self.clock.now() >= self._down_until

    def connected_since(self) -> datetime | None:
        if not self.is_connected():
            return None
        return self._down_until or self._connected_at

    def account(self) -> str:
        return self._account

    def write_access(self) -> bool | None:
        return True

    def positions(self) -> Sequence[Position]:
        with self._lock:
            self._count()
            return [p for p in self._reported().values() if p.quantity]

    def stock_positions(self) -> Sequence[StockPosition]:
        with self._lock:
            self._count()
            return list(self._stock.values())

    def place_stock_order(self, request: StockOrderRequest) -> str:
        with self._lock:
            self._check_connected()
            held = self._stock.get(request.symbol)
            order_id = self._stock_orders.place(request, held.shares if held else 0, self.clock.now())
            self._count()
            return order_id

    def modify_stock_order(self, order_id: str, limit_price: float | None) -> None:
        with self._lock:
            self._check_connected()
            if not self._stock_orders.modify(order_id, limit_price, self.clock.now()):
                raise BrokerError(f"stock order {order_id} is no longer working")
            self._count()

    def stock_orders(self) -> Sequence[StockOrderState]:
        with self._lock:
            self._count()
            return self._stock_orders.states()

    @property
    def placed_stock(self) -> list[StockOrderRequest]:
        return self._stock_orders.placed

    def working_orders(self) -> Sequence[WorkingOrder]:
        with self._lock:
            self._count()
            return [w.order for w in self._working.values() if w.sent] + [
                leg for combo in self._combos.values() if combo.sent for leg in combo.leg_orders()]

    def executions(self) -> Sequence[Execution]:
        with self._lock:
            self._count()
            return list(self._executions)

    def place_order(self, request: OrderRequest) -> str:
        with self._lock:
            self._check_connected()
            reported = self._reported().get(request.contract)
            why = over_close(request.side, request.quantity, request.position,
                             reported.quantity if reported else 0, self._ours_working(request.contract, request.side))
            if why:
                raise OrderRefused(f"{request.order_ref} for {request.contract.key} not sent: {why}")
            order_id = str(next(self._ids))
            self.placed.append(request)
            order = WorkingOrder(order_id, request.contract, request.side, request.order_type, request.quantity,
                                 limit_price=request.limit_price, order_ref=request.order_ref)
            working = self._working[order_id] = _Working(order, self.clock.now(), True, sent=False)
            self._message(lambda at: self._arrive(working, at))
            return order_id

    def _arrive(self, working: _Working, at: datetime) -> None:
        """A placement reaches the broker: it works from now, or is rejected."""
        order = working.order
        if self._working.get(order.order_id) is not working:
            return
        reject = self._arrival_reject([order.contract])
        if reject:
            del self._working[order.order_id]
            self._emit(order, OrderStatus.REJECTED, reject, at=at)
        else:
            working.since, working.sent = at, True
            self._emit(order, OrderStatus.SUBMITTED, at=at)

    def _arrival_reject(self, contracts: list[OptionContract]) -> str:
        """Why the broker rejects an order on these contracts as it arrives (a scripted reject), else ''."""
        refused = [c.key for c in contracts if c.key in self._refused_contracts]
        if refused:
            what = "the contract" if len(contracts) == 1 else f"the contract {refused[0]}"
            return f"simulated reject: 201 Order rejected - reason: {what} is not available for trading"
        if self._rejects_left > 0:
            self._rejects_left -= 1
            return "simulated reject: 201 Order rejected"
        return ""

    def place_combo(self, request: ComboRequest) -> str:
        """One order on every leg, filled whole or not at all; the last guard checks each leg as ``place_order``."""
        with self._lock:
            self._check_connected()
            if self.refuse_combos:
                raise ComboRefused(f"{request.order_ref} not sent: the paper broker takes no combo orders "
                                   "(simulated); close the legs one by one, short legs first")
            if not request.legs or request.quantity <= 0:
                raise ComboRefused(f"{request.order_ref} not sent: a combo needs legs and a quantity above 0")
            reported = self._reported()
            for leg in request.legs:
                read = reported.get(leg.contract)
                why = over_close(leg.side, leg.ratio * request.quantity, leg.position, read.quantity if read else 0,
                                 self._ours_working(leg.contract, leg.side))
                if why:
                    raise OrderRefused(f"{request.order_ref} leg {leg.contract.key} not sent: {why}")
            order_id = str(next(self._ids))
            self.placed_combos.append(request)
            first = request.legs[0]
            head = WorkingOrder(order_id, first.contract, first.side, request.order_type, request.quantity,
                                limit_price=request.limit_price, order_ref=request.order_ref, combo=True)
            combo = self._combos[order_id] = _Combo(head, request.legs, self.clock.now(), sent=False)
            self._message(lambda at: self._combo_arrives(combo, at))
            return order_id

    def _combo_arrives(self, combo: _Combo, at: datetime) -> None:
        head = combo.order
        if self._combos.get(head.order_id) is not combo:
            return
        reject = self._arrival_reject([leg.contract for leg in combo.legs])
        if reject:
            del self._combos[head.order_id]
            self._emit(head, OrderStatus.REJECTED, reject, at=at)
        else:
            combo.since, combo.sent = at, True
            self._emit(head, OrderStatus.SUBMITTED, at=at)

    def modify_limit(self, order_id: str, limit_price: float) -> None:
        self._modify(order_id, lambda o: replace(o, order_type=OrderType.LIMIT, limit_price=limit_price))

    def modify_to_market(self, order: WorkingOrder) -> None:
        self._modify(order.order_id, lambda o: replace(o, order_type=OrderType.MARKET, limit_price=None,
                                                        stop_price=None))

    def cancel(self, order_id: str) -> None:
        with self._lock:
            self._check_connected()
            working = self._working.get(order_id)
            if working is not None and not working.order.modifiable:
                raise OrderNotOurs(f"order {order_id} was placed by {working.order.owner or 'another client'}; "
                                   "the broker lets only its own client cancel it")
            self._message(lambda at: self._cancelled(order_id, at))

    def _cancelled(self, order_id: str, at: datetime) -> None:
        """A cancel reaches the broker: the order ends, unless it already has (filled meanwhile)."""
        combo = self._combos.pop(order_id, None)
        if combo is not None:
            self._emit(combo.order, OrderStatus.CANCELLED, at=at)
        elif (working := self._working.pop(order_id, None)) is not None:
            self._emit(working.order, OrderStatus.CANCELLED, at=at)

    def lapse(self, contract: OptionContract, quantity: int) -> LapseResult:
        """As IB: for a long option of today's expiry, up to what is held, until the cut-off. A contract
        whose orders are refused (``refuse_contract``) still takes a lapse: it is no order."""
        with self._lock:
            self._check_connected()
            self._count()
            session = self.market.session
            held = self._positions.get(contract)
            already = self._lapsed.get(contract, 0)
            if self.clock.now() >= lapse_cutoff(session):
                return LapseResult(LapseStatus.REFUSED, f"lapse refused: after the cut-off {cutoff_text(session)}")
            if contract.expiry != session.day:
                return LapseResult(LapseStatus.REFUSED, "lapse refused: the option does not expire today")
            if held is None or held.quantity < already + quantity:
                return LapseResult(LapseStatus.REFUSED, "lapse refused: more than the long position held "
                                   "(a short option cannot be lapsed)")
            self._lapsed[contract] = already + quantity
            return LapseResult(LapseStatus.ACCEPTED)

    def set_event_handler(self, handler: Callable[[BrokerEvent], None]) -> None:
        self._handler = handler

    def messages_sent(self) -> int:
        return self._messages

    # --- simulation ------------------------------------------------------------------------------
    def process(self, now: datetime) -> None:
        """Send what the pacing lets out by ``now``, fill what is due and deliver events; the simulator calls this
        every virtual second."""
        with self._lock:
            self._send_due(now)
            if self.is_connected() and (self._no_fill_until is None or now >= self._no_fill_until):
                for working in [w for w in self._working.values() if w.sent]:
                    self._maybe_fill(working, now)
                for combo in [c for c in self._combos.values() if c.sent]:
                    self._maybe_fill_combo(combo, now)
                for symbol in self._stock_orders.working_symbols():
                    try:
                        quote = self.market.underlying_quote(symbol)
                    except FeedError:  # no book to fill on during a simulated outage
                        continue
                    for filled in self._stock_orders.fill_due(symbol, quote, now):
                        self._deliver(symbol, filled.side.signed(filled.shares), filled.average_price or 0.0)
            events, self._pending_events = self._pending_events, []
        for event in events:
            self._handler(event)

    def settle(self) -> dict[str, Outcome]:
        """OCC at expiration: exercise by exception at the close (unless lapsed), assignment on the after-hours move,
        and, before an ex-date, the early assignment of short calls a holder exercises for the dividend;
        each position on its own underlying's prices (the market raises FeedError for one it has no
        script for: the simulator refuses such scenarios before it starts)."""
        market, close = self.market, self.market.session.close
        with self._lock:
            self._working.clear()  # day orders expire at the close
            self._combos.clear()
            self._outbox.clear()  # and what had not gone out by then never will
            held = [p for p in self._positions.values() if p.quantity]
            outcomes = {p.contract: settle(p, market.spot_at(p.contract.symbol, close),
                                           market.spot_after_hours(p.contract.symbol), self._lapsed.get(p.contract, 0))
                        for p in held if p.contract.expiry == market.session.day}
            # A holder exercises early for tomorrow's dividend those worth less above intrinsic than it, as OCC would.
            outcomes.update({p.contract: Outcome.ASSIGNED for p in held if p.contract.expiry > market.session.day
                             and outcome_tonight(p, market.spot_at(p.contract.symbol, close),
                                                 market.option_mid(p.contract, close),
                                                 market.session.ex_dividends) is Outcome.ASSIGNED})
            for position in (p for p in held if p.contract in outcomes):  # overnight, as OCC and IB do: the
                # options go, the shares come
                del self._positions[position.contract]
                self._deliver(position.contract.symbol, delivery(position, outcomes[position.contract]),
                              position.contract.strike)
            return {contract.key: outcome for contract, outcome in outcomes.items()}

    def _deliver(self, symbol: str, shares: int, price: float) -> None:
        if not shares:
            return
        held = self._stock.get(symbol, StockPosition(symbol, 0))
        total = held.shares + shares
        if total == 0:
            del self._stock[symbol]
            return
        if held.shares == 0 or (held.shares > 0) == (shares > 0):  # adds to the position: a weighted average
            cost = (held.avg_cost * held.shares + price * shares) / total
        elif (total > 0) == (held.shares > 0):  # takes part of it away: what is left cost what it did
            cost = held.avg_cost
        else:  # flips it: the new side is all delivered shares
            cost = price
        self._stock[symbol] = StockPosition(symbol, total, cost)

    def inject_rejects(self, count: int) -> None:
        with self._lock:
            self._rejects_left += count

    def refuse_contract(self, contract_key: str) -> None:
        """From now on every order for this contract is refused, as IB does for one it will not trade."""
        with self._lock:
            self._refused_contracts.add(contract_key)

    def inject_no_fills(self, seconds: float) -> None:
        with self._lock:
            self._no_fill_until = self.clock.now() + timedelta(seconds=seconds)

    def inject_disconnect(self, seconds: float) -> None:
        with self._lock:
            self._down_until = self.clock.now() + timedelta(seconds=seconds)

    # --- internals -------------------------------------------------------------------------------
    def _count(self) -> None:
        self._check_connected()
        self._messages += 1

    def _message(self, send: Callable[[datetime], None]) -> None:
        """One paced message: ``send(at)`` runs when it goes out, now if the pacing and the outbox let it."""
        now = self.clock.now()
        self._send_due(now)
        at = self._origin + timedelta(seconds=self._pacer.slot((now - self._origin).total_seconds()))
        self._outbox.append((at, send))
        self._send_due(now)

    def _send_due(self, now: datetime) -> None:
        while self._outbox and self._outbox[0][0] <= now:
            at, send = self._outbox.popleft()
            self._messages += 1
            self.sent_at.append(at)
            send(at)

    def _check_connected(self) -> None:
        if not self.is_connected():
            raise BrokerUnavailable("paper broker disconnected (simulated): IB Gateway not reachable")

    def _reported(self) -> dict[OptionContract, Position]:
        """Positions as a read shows them: fills younger than the lag not in yet."""
        shown_until = self.clock.now() - self.position_lag
        self._moves = [m for m in self._moves if m.at > shown_until]
        reported = dict(self._positions)
        for move in self._moves:
            position = reported[move.contract]
            reported[move.contract] = replace(position, quantity=position.quantity - move.delta)
        return reported

    def _ours_working(self, contract: OptionContract, side: Side) -> int:
        singles = sum(w.order.remaining for w in self._working.values()
                      if w.ours and w.order.contract == contract and w.order.side is side)
        return singles + sum(leg.remaining for combo in self._combos.values() for leg in combo.leg_orders()
                             if leg.contract == contract and leg.side is side)

    def _modify(self, order_id: str, change: Callable[[WorkingOrder], WorkingOrder]) -> None:
        with self._lock:
            self._check_connected()
            working = self._working.get(order_id)
            if working is None and order_id not in self._combos:
                raise BrokerError(f"order {order_id} is no longer working")
            if working is not None and not working.order.modifiable:
                raise OrderNotOurs(f"order {order_id} was placed by {working.order.owner or 'another client'}; "
                                   "the broker lets only its own client modify it")
            self._message(lambda at: self._modified(order_id, change, at))

    def _modified(self, order_id: str, change: Callable[[WorkingOrder], WorkingOrder], at: datetime) -> None:
        """A change reaches the broker: the order works anew from now, unless it has ended meanwhile."""
        combo = self._combos.get(order_id)
        if combo is not None:  # the net of the whole combo (a limit) or the combo to market
            combo.order, combo.since = change(combo.order), at
        elif (working := self._working.get(order_id)) is not None:
            working.order, working.since, working.ours = change(working.order), at, True

    def _maybe_fill(self, working: _Working, now: datetime) -> None:
        bid, mid, ask = self.market.option_book(working.order.contract, now)
        working.order, price = working_fill(working.order, (now - working.since).total_seconds(), bid, mid, ask,
                                            self.fill_delay_seconds)
        if price is not None:
            self._fill(working, price, now)

    def _maybe_fill_combo(self, combo: _Combo, now: datetime) -> None:
        if not fill_due((now - combo.since).total_seconds(), self.fill_delay_seconds):
            return
        quotes = tuple(ComboLegQuote(leg.side, leg.ratio, *self.market.option_book(leg.contract, now))
                       for leg in combo.legs)
        head = combo.order
        limit = None if head.order_type is OrderType.MARKET else head.limit_price
        if limit is None and head.order_type is not OrderType.MARKET:
            return  # a limit combo without a net: nothing it can fill at
        prices = combo_fill(quotes, limit)
        if prices is None:
            return
        del self._combos[head.order_id]
        paid = 0.0
        for leg_order, price in zip(combo.leg_orders(), prices, strict=True):
            paid += self._execute(leg_order, leg_order.remaining, price, now, ours=True)
        self._emit(replace(head, filled=head.quantity), OrderStatus.FILLED, at=now, commission=round(paid, 2))

    def _fill(self, working: _Working, price: float, now: datetime) -> None:
        order = working.order
        del self._working[order.order_id]
        paid = self._execute(order, order.remaining, price, now, ours=working.ours)
        self._emit(replace(order, filled=order.quantity), OrderStatus.FILLED, at=now, commission=paid)

    def _execute(self, order: WorkingOrder, quantity: int, price: float, now: datetime, *, ours: bool) -> float:
        """One execution of ``order`` (a single order, or one leg of a combo): the position moves, the
        execution is recorded (and reported when ours); returns its commission."""
        position = self._positions.get(order.contract)
        delta = order.side.signed(quantity)
        if position is None:
            self._positions[order.contract] = Position(order.contract, delta, price)
        else:
            self._positions[order.contract] = replace(position, quantity=position.quantity + delta)
        self._moves.append(_Moved(now, order.contract, delta))
        paid = commission(quantity)
        execution = Execution(f"paper.{next(self._exec_ids):06d}", order.order_id, order.order_ref, order.contract,
                              order.side, quantity, price, now, paid)
        self._executions.append(execution)
        if ours:
            self._pending_events.append(execution)
        return paid

    def _emit(self, order: WorkingOrder, status: OrderStatus, message: str = "", at: datetime | None = None,
              commission: float | None = None) -> None:
        self._pending_events.append(OrderEvent(
            order.order_id, order.order_ref, order.contract, order.side, status, order.filled, order.remaining,
            at or self.clock.now(), commission=commission, message=message))
