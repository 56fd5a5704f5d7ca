"""Executor: turns decisions into orders, walks their prices, and follows them to completion.

It is the last guard before the broker: the trading gate (breaker, kill switch), the connection and
the currency of its snapshot are checked before every order, the quantity is re-checked against its
own book (snapshot + own orders + fills since), and no position gets more than ``max_attempts``
attempts (each price sent counts as one).

Broker failures are told apart, because treating them alike costs money: not connected (nothing
sent: no attempt used, no breaker count, retried once connected), outcome unknown (the order may be
working: nothing new for that contract until a later snapshot settles it), and a real refusal (an
attempt, a reject, a failure for the breaker).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from actors.base import SupervisedActor
from actors.context import ActorContext, Roles
from actors.executor_state import BatchView, ExecutorState, OwnBook, OwnOrder, Unresolved
from domain import alerts
from domain.audit import ActionKind, ActionRecord, new_action_id
from domain.book import OwnFill, snapshot_is_current
from domain.messages import Decisions, Failure, PollNow, PositionsSnapshot, Tick
from domain.model import OptionContract, OrderType, Position, Side, WorkingOrder
from domain.order_refs import is_cleanup_ref, make_order_ref, ref_sequence
from domain.policy import CancelOrder, Close, ConvertStop, closable_quantity
from domain.pricing import limit_price, slippage_per_share
from gateways.broker import (
    Broker,
    BrokerError,
    BrokerUnavailable,
    OrderEvent,
    OrderNotOurs,
    OrderOutcomeUnknown,
    OrderRequest,
    OrderStatus,
)

log = logging.getLogger("cleanup.executor")
# Under this many seconds to the close a working limit goes to market at once.
LAST_CALL_SECONDS = 30.0
# Refusals that last while the broker's view is not current; announced again after the next outage.
DISCONNECTED, STALE = "disconnected", "stale snapshot"


class Executor(SupervisedActor):
    role = Roles.EXECUTOR

    def __init__(self, ctx: ActorContext, broker: Broker) -> None:
        super().__init__(ctx)
        self.broker = broker
        self.state: ExecutorState = ctx.keeper.get(self.role) or ExecutorState()

    def on_start(self) -> None:
        # After a restart the kept state may miss what happened while down: read the broker again.
        self.send(Roles.POSITION_POLLER, PollNow("executor (re)started"))

    def handle(self, message: Any) -> Any:
        if isinstance(message, Decisions):
            self._apply(message)
        elif isinstance(message, OrderEvent):
            self._order_event(message)
        elif isinstance(message, PositionsSnapshot):
            self._snapshot(message)
        elif isinstance(message, Tick):
            self._walk(message.now)
        else:
            return super().handle(message)
        self.ctx.keeper.keep(self.role, self.state)
        return None

    # --- decisions -------------------------------------------------------------------------------
    def _apply(self, batch: Decisions) -> None:
        for own in self.state.own.values():
            quote = batch.quotes.get(own.order.contract.key)
            if quote is not None and quote.mid is not None:
                own.reference_mid, own.bid, own.ask = quote.mid, quote.bid, quote.ask
        view = BatchView.of(self.state.book, self.state.own)
        for decision in batch.decisions:
            if isinstance(decision, Close):
                self._close(decision, batch.at, view)
            elif isinstance(decision, ConvertStop):
                self._convert(decision, batch.at, view)
            elif isinstance(decision, CancelOrder):
                self._cancel(decision, batch.at)
        self._publish()

    def _refuses(self, contract: OptionContract, at: datetime, what: str) -> bool:
        """Refuse (once, with the reason) while trading is halted or the broker's view is not current."""
        if not self.ctx.gate.is_open():
            reasons = "; ".join(f"{k}: {v}" for k, v in self.ctx.gate.reasons().items())
            self._refuse_once(contract, at, "halted", f"{what} not sent: trading halted ({reasons})")
            return True
        if not self.broker.is_connected():
            self._not_sent(contract, at, what)
            return True
        if not snapshot_is_current(self.state.book.taken_at, self.broker.connected_since()):
            self._refuse_once(contract, at, STALE, f"{what} not sent: positions not read since the broker "
                              "(re)connected; retried after the next read")
            return True
        return False

    def _not_sent(self, contract: OptionContract, at: datetime, what: str, error: BrokerError | None = None) -> None:
        detail = f" ({error})" if error else ""
        self._refuse_once(contract, at, DISCONNECTED,
                          f"{what} not sent: broker disconnected; retried after reconnect{detail}")

    def _close(self, decision: Close, at: datetime, view: BatchView) -> None:
        contract = decision.contract
        if contract in view.own_contracts or contract in self.state.unresolved:
            return  # never a second order while one of ours works, or may be working
        position = view.positions.get(contract)
        if position is None or self._refuses(contract, at, "close"):
            return
        settings = self.ctx.config.settings
        used = self.state.attempts.get(contract, 0)
        if used >= settings.max_attempts:
            self._refuse_once(contract, at, "attempts", f"{settings.max_attempts} closing attempts used; "
                              "close it by hand (ctl close) or in TWS")
            return
        quantity = min(decision.quantity, closable_quantity(position, view.working.get(contract, [])))
        if quantity <= 0:
            return
        final = decision.reference_mid is None or self._seconds_to_close(at) <= LAST_CALL_SECONDS
        attempt = settings.max_attempts - 1 if final else used
        price = self._price(decision.side, decision.reference_mid, decision.bid, decision.ask, attempt)
        sequence = self.state.sequence.get(contract, 0) + 1
        self.state.sequence[contract] = sequence
        request = OrderRequest(contract, decision.side, quantity,
                               OrderType.MARKET if price is None else OrderType.LIMIT, price,
                               make_order_ref(contract, sequence))
        order = WorkingOrder("", contract, decision.side, request.order_type, quantity,
                             limit_price=price, order_ref=request.order_ref)
        own = OwnOrder(order, decision.reference_mid, decision.bid, decision.ask, decision.stage.value,
                       decision.reason, at, attempt, avg_cost=position.avg_cost, final=price is None)
        try:
            order_id = self.broker.place_order(request)
        except BrokerUnavailable as error:
            self._not_sent(contract, at, "close", error)
            return
        except OrderOutcomeUnknown as error:
            self._attempted(contract, used)
            self.state.unresolved[contract] = Unresolved(self.ctx.clock.now(), own)
            self._unknown_outcome(ActionKind.CLOSE, at, "close", error, order, own.stage)
            return
        except BrokerError as error:
            self._attempted(contract, used)
            self.ctx.metrics.order_rejected()  # refused at once: a reject like one reported later
            self._failed(contract, decision.side, quantity, at, str(error), request.order_ref, decision.stage)
            return
        self._attempted(contract, used)
        own.order = order = replace(order, order_id=order_id)
        self.state.own[order_id] = own
        view.working.setdefault(contract, []).append(order)  # later decisions of this batch see it
        view.own_contracts.add(contract)
        self.ctx.metrics.order_submitted()
        self._record(ActionKind.CLOSE, at, contract, quantity, decision.stage.value, decision.reason,
                     order=order, success=True, reference_mid=decision.reference_mid, price=price,
                     assessment=decision.assessment)

    def _convert(self, decision: ConvertStop, at: datetime, view: BatchView) -> None:
        order = decision.order
        if not self._handle_trader_order(order, at, ActionKind.CONVERT_STOP, "stop conversion", decision.stage.value,
                                         lambda: self.broker.modify_to_market(order)):
            return
        # From now on it is our market order: follow it to its fill like any close of ours.
        position = view.positions.get(order.contract)
        market = replace(order, order_type=OrderType.MARKET, stop_price=None, limit_price=None)
        self.state.own[order.order_id] = OwnOrder(market, None, None, None, decision.stage.value, decision.reason,
                                                  at, self.ctx.config.settings.max_attempts - 1,
                                                  avg_cost=position.avg_cost if position else 0.0, final=True)
        self._record(ActionKind.CONVERT_STOP, at, order.contract, order.remaining, decision.stage.value,
                     decision.reason, order=order, success=True)
        self.alert(alerts.stop_converted(order.contract.key, order.order_id, order.remaining))

    def _cancel(self, decision: CancelOrder, at: datetime) -> None:
        order = decision.order
        if not self._handle_trader_order(order, at, ActionKind.CANCEL, "cancel", decision.stage.value,
                                         lambda: self.broker.cancel(order.order_id)):
            return
        self._record(ActionKind.CANCEL, at, order.contract, order.remaining, decision.stage.value,
                     decision.reason, order=order, success=True)

    def _handle_trader_order(self, order: WorkingOrder, at: datetime, kind: ActionKind, what: str, stage: str,
                             call: Callable[[], None]) -> bool:
        """Convert or cancel a trader's order once; True when the broker took it."""
        if order.order_id in self.state.handled_orders or self._refuses(order.contract, at, what):
            return False
        self.state.handled_orders.add(order.order_id)
        try:
            call()
            return True
        except BrokerUnavailable as error:
            self._not_sent(order.contract, at, what, error)
        except OrderOutcomeUnknown as error:
            # Not again until a later snapshot shows whether it went through (retrying a done order fails).
            self.state.unsettled_handled[order.order_id] = self.ctx.clock.now()
            self._unknown_outcome(kind, at, what, error, order, stage)
            return False
        except OrderNotOurs as error:
            # Final: every retry would be refused the same way, and counting them would trip the breaker
            # at T-2 and halt every other close. The trader must act on this order by hand.
            self._record(kind, at, order.contract, order.remaining, stage, f"{what} refused by the broker",
                         order=order, success=False, error=str(error))
            self.alert(alerts.close_failed(order.contract.key, order.remaining, order.side.value,
                                           f"{what} of order {order.order_id} refused: {error}"))
            return False
        except BrokerError as error:
            self._failed(order.contract, order.side, order.remaining, at, str(error), order.order_ref, stage)
        self.state.handled_orders.discard(order.order_id)
        return False

    # --- the price walk --------------------------------------------------------------------------
    def _walk(self, now: datetime) -> None:
        settings = self.ctx.config.settings
        interval = timedelta(seconds=settings.attempt_interval_seconds)
        for own in list(self.state.own.values()):
            if own.final or own.ambiguous or now - own.priced_at < interval and \
                    self._seconds_to_close(now) > LAST_CALL_SECONDS:
                continue
            contract = own.order.contract
            used = self.state.attempts.get(contract, 0)
            if used >= settings.max_attempts or self._refuses(contract, now, "price walk"):
                continue
            last_call = self._seconds_to_close(now) <= LAST_CALL_SECONDS
            attempt = settings.max_attempts - 1 if last_call else max(used, own.attempt + 1)
            price = self._price(own.order.side, own.reference_mid, own.bid, own.ask, attempt)
            try:
                if price is None:
                    self.broker.modify_to_market(own.order)
                else:
                    self.broker.modify_limit(own.order.order_id, price)
            except BrokerUnavailable as error:
                self._not_sent(contract, now, "price walk", error)
                continue
            except OrderOutcomeUnknown as error:
                self._attempted(contract, used)
                own.ambiguous = True  # the walk waits until a snapshot shows the order again
                self._unknown_outcome(ActionKind.CLOSE, now, "price walk", error, own.order, own.stage)
                continue
            except BrokerError as error:
                self._attempted(contract, used)
                self._failed(contract, own.order.side, own.order.remaining, now, str(error), own.order.order_ref,
                             own.stage)
                continue
            self._attempted(contract, used)
            own.attempt, own.priced_at, own.final = attempt, now, price is None
            own.order = replace(own.order, order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
                                limit_price=price)
            log.info("walk %s attempt %d -> %s", own.order.order_ref, attempt + 1, price or "MKT")
        self._publish()

    def _price(self, side: Side, mid: float | None, bid: float | None, ask: float | None, attempt: int) -> float | None:
        settings = self.ctx.config.settings
        if mid is None:
            return None
        return limit_price(side, mid, bid, ask, attempt, settings.max_attempts, settings.max_slippage)

    # --- order outcomes --------------------------------------------------------------------------
    def _order_event(self, event: OrderEvent) -> None:
        own = self.state.own.get(event.order_id) or self._claim(event.order_id, event.order_ref)
        if own is None:
            finished = self.state.finished.get(event.order_id)
            if finished is not None:
                self._late_commission(finished, event)
            return  # otherwise a trader's order (e.g. a converted stop): the next poll shows its effect
        delta = event.filled - own.order.filled
        if delta > 0:
            self._filled(own, event, delta)
        else:
            self._late_commission(own, event)
        if event.status in (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED):
            own.ambiguous = False  # the broker knows it again (reconciled): the walk may go on
        elif event.status is OrderStatus.UNKNOWN:
            own.ambiguous = True  # unresolved, not rejected: the next snapshot settles it
            log.warning("order %s outcome unknown (%s); waiting for reconciliation", own.order.order_ref,
                        event.message)
        elif event.status is OrderStatus.REJECTED:
            del self.state.own[event.order_id]
            self.ctx.metrics.order_rejected()
            self._failed(own.order.contract, own.order.side, own.order.remaining, event.at,
                         event.message or "rejected", own.order.order_ref, own.stage, order_id=event.order_id)
        elif event.status is OrderStatus.CANCELLED:
            self._finish(event.order_id)
            self.ctx.metrics.order_cancelled()
        elif event.status is OrderStatus.FILLED:
            self._finish(event.order_id)
        self._publish()

    def _finish(self, order_id: str) -> None:
        own = self.state.own.pop(order_id)
        if own.order.filled:
            self.state.finished[order_id] = own  # IB reports the commission after the fill

    def _new_commission(self, own: OwnOrder, event: OrderEvent) -> float:
        """The part of the order's commission (cumulative in events) not yet in the audit trail."""
        if event.commission is None or event.commission <= own.commission:
            return 0.0
        new, own.commission = event.commission - own.commission, event.commission
        return round(new, 4)

    def _late_commission(self, own: OwnOrder, event: OrderEvent) -> None:
        commission = self._new_commission(own, event)
        if not commission:
            return
        # Its own record under the fill's order: a written record is never rewritten, and a fill count
        # (reports, the summary view) must not see a second fill.
        self._record(ActionKind.COMMISSION, event.at, own.order.contract, None, own.stage,
                     f"commission ${commission:.2f} reported after the fill of {own.order.order_ref}",
                     order=own.order, pnl=-commission, details={"commission": commission})

    def _filled(self, own: OwnOrder, event: OrderEvent, delta: int) -> None:
        own.order = replace(own.order, filled=event.filled)
        own.ambiguous = False
        price = event.avg_fill_price
        slippage = slippage_per_share(own.order.side, own.reference_mid, price) \
            if own.reference_mid is not None and price is not None else None
        sign = 1 if own.order.side is Side.SELL else -1
        commission = self._new_commission(own, event)
        pnl = sign * (price - own.avg_cost) * delta * 100 - commission if price is not None else -commission or None
        fill = OwnFill(event.order_id, own.order.contract, own.order.side, delta, event.at)
        self.state.book = self.state.book.with_fill(fill)
        self.ctx.metrics.order_filled(slippage, delta)
        reason = f"{own.reason}; commission ${commission:.2f} (in pnl_impact)" if commission else own.reason
        self._record(ActionKind.FILL, event.at, own.order.contract, delta, own.stage, reason, order=own.order,
                     success=True, price=price, reference_mid=own.reference_mid, slippage=slippage, pnl=pnl,
                     details={"commission": commission} if commission else None)
        self.alert(alerts.close_filled(own.order.contract.key, delta, own.order.side.value, price,
                                       own.order.order_ref or ""))
        self.send(Roles.RISK_ASSESSOR, OwnBook(self._own_orders(), fill))
        self.send(Roles.POSITION_POLLER, PollNow(f"fill of {own.order.order_ref}"))

    def _failed(self, contract: OptionContract, side: Side, quantity: int, at: datetime, error: str,
                order_ref: str | None, stage: str, order_id: str | None = None) -> None:
        self._record(ActionKind.REJECT, at, contract, quantity, stage, "order failed", success=False, error=error,
                     order=WorkingOrder(order_id or "", contract, side, OrderType.LIMIT, quantity, order_ref=order_ref))
        self.alert(alerts.close_failed(contract.key, quantity, side.value, error,
                                       self.state.attempts.get(contract)))
        # Asked, not told: the breaker's verdict must be known before the next order goes out.
        self.ctx.registry.ask(Roles.CIRCUIT_BREAKER, Failure(at, f"{contract.key}: {error}"))

    def _unknown_outcome(self, kind: ActionKind, at: datetime, what: str, error: BrokerError,
                         order: WorkingOrder, stage: str) -> None:
        """Unresolved, not rejected: no breaker count; the next read of positions and orders settles it."""
        contract = order.contract
        reason = f"{what} outcome unknown ({error}); nothing more sent for it until positions and orders are read"
        log.warning("%s %s: %s", contract.key, order.order_ref, reason)
        self._record(kind, at, contract, order.remaining, stage, reason, order=order, success=None, error=str(error))
        self.send(Roles.POSITION_POLLER, PollNow(f"{what} outcome unknown for {contract.key}"))

    # --- snapshots and reconciliation ------------------------------------------------------------
    def _snapshot(self, snapshot: PositionsSnapshot) -> None:
        self.state.book = self.state.book.with_snapshot(snapshot.positions, snapshot.orders, snapshot.taken_at)
        if snapshot_is_current(snapshot.taken_at, self.broker.connected_since()):
            self.state.refusals = {r for r in self.state.refusals if r[1] not in (DISCONNECTED, STALE)}
        broker_ids = {order.order_id for order in snapshot.orders}
        for order in snapshot.orders:  # adopt our own orders (after a restart or reconnect), never resend
            if is_cleanup_ref(order.order_ref) and order.order_id not in self.state.own \
                    and self._claim(order.order_id, order.order_ref) is None:
                self._adopt(order, snapshot.taken_at)
        self._settle_unknown_outcomes(snapshot.taken_at)
        for order_id, own in list(self.state.own.items()):
            if own.ambiguous and order_id not in broker_ids:
                del self.state.own[order_id]  # the broker does not know it: it is done or never was
            elif own.ambiguous:
                own.ambiguous = False  # still working at the broker: ours, adopted as it is
        self._publish()

    def _claim(self, order_id: str, order_ref: str | None) -> OwnOrder | None:
        """Our placement of unknown outcome, now seen at the broker: follow it as placed."""
        for contract, pending in self.state.unresolved.items():
            if order_ref and pending.own.order.order_ref == order_ref:
                del self.state.unresolved[contract]
                pending.own.order = replace(pending.own.order, order_id=order_id)
                self.state.own[order_id] = pending.own
                log.warning("order %s (%s) of unknown outcome is at the broker: followed", order_ref, order_id)
                return pending.own
        return None

    def _settle_unknown_outcomes(self, taken_at: datetime) -> None:
        """A snapshot read after an unknown outcome settles it: what it does not show working never was."""
        for contract, pending in list(self.state.unresolved.items()):
            if taken_at > pending.since:
                del self.state.unresolved[contract]  # never placed, or filled: the positions show which
                log.warning("order %s of unknown outcome is not working at the broker", pending.own.order.order_ref)
        for order_id, since in list(self.state.unsettled_handled.items()):
            if taken_at > since:
                del self.state.unsettled_handled[order_id]
                self.state.handled_orders.discard(order_id)  # still a stop (or still there): the policy asks again

    def _adopt(self, order: WorkingOrder, at: datetime) -> None:
        contract = order.contract
        self.state.sequence[contract] = max(self.state.sequence.get(contract, 0), ref_sequence(order.order_ref or ""))
        self.state.attempts.setdefault(contract, 1)
        position = self._position(contract)
        self.state.own[order.order_id] = OwnOrder(
            order, order.limit_price, None, None, "adopted", "adopted after restart", at,
            self.state.attempts[contract] - 1, avg_cost=position.avg_cost if position else 0.0,
            final=order.order_type is OrderType.MARKET)
        log.warning("adopted working order %s (%s) found at the broker", order.order_ref, order.order_id)

    # --- helpers ---------------------------------------------------------------------------------
    def _position(self, contract: OptionContract) -> Position | None:
        return next((p for p in self.state.book.effective_positions() if p.contract == contract), None)

    def _own_orders(self) -> tuple[WorkingOrder, ...]:
        return tuple(own.order for own in self.state.own.values())

    def _publish(self) -> None:
        self.state.book = self.state.book.with_own_orders(self._own_orders())
        self.send(Roles.RISK_ASSESSOR, OwnBook(self._own_orders()))

    def _attempted(self, contract: OptionContract, used: int) -> None:
        """A price reached (or may have reached) the broker: one of the position's attempts."""
        self.state.attempts[contract] = used + 1
        self.ctx.metrics.closing_attempt()

    def _seconds_to_close(self, now: datetime) -> float:
        return (self.ctx.session.close - now).total_seconds()

    def _refuse_once(self, contract: OptionContract, at: datetime, kind: str, text: str) -> None:
        if (contract, kind) in self.state.refusals:
            return
        self.state.refusals.add((contract, kind))
        self._record(ActionKind.CLOSE, at, contract, None, "", text, success=False, error=text)
        self.alert(alerts.close_failed(contract.key, 0, "", text))

    def _record(self, kind: ActionKind, at: datetime, contract: OptionContract, quantity: int | None, stage: str,
                reason: str, *, order: WorkingOrder | None = None, success: bool | None = None,
                error: str | None = None, price: float | None = None, reference_mid: float | None = None,
                slippage: float | None = None, pnl: float | None = None, assessment: Any = None,
                details: dict[str, Any] | None = None) -> None:
        self.audit(ActionRecord(
            new_action_id(), at, kind, symbol=contract.symbol, strike=contract.strike, expiry=contract.expiry,
            right=contract.right.value, quantity=quantity, account=self.ctx.account,
            mode=self.ctx.config.mode.value, stage=stage, reason=reason,
            moneyness=assessment.moneyness if assessment else None,
            risk_score=assessment.risk_score if assessment else None,
            probability_itm=assessment.probability_itm if assessment else None,
            order_ref=order.order_ref if order else None, order_id=order.order_id if order else None,
            execution_price=price, reference_mid=reference_mid, slippage=slippage, pnl_impact=pnl,
            success=success, error=error, details=details or {}))
