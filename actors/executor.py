"""Executor: turns decisions into orders, walks their prices, and follows them until every fill is in.

It is the last guard before the broker: the trading gate (breaker, kill switch), the connection, the
currency of its snapshot and a rebuild after its own (re)start are checked before every order; the
quantity is sized from the book's certain position (domain/book.py: IB's position reads lag fills)
minus every closing order that may still be working; and no position gets more than ``max_attempts``
prices. An order ends when the broker says so (never on ib_async's own inference) and is followed until
its executions account for every contract it filled: until then nothing new goes out for its contract.

Broker failures are told apart, because treating them alike costs money: not connected (nothing
sent: no attempt used, no breaker count, retried once connected), outcome unknown (the order may be
working: nothing new for that contract until a later read of orders and fills settles it), an order
that ended meanwhile (no failure), and a real refusal (a failure of that contract; after
``max_contract_failures`` the contract is given up and paged, and the circuit breaker hears of it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from actors.base import SupervisedActor
from actors.context import ActorContext, Roles
from actors.executor_records import Records, fill_pnl, fill_slippage
from actors.executor_state import BatchView, ExecutorState, OwnOrder, Unresolved
from domain import alerts, order_alerts
from domain.audit import ActionKind
from domain.book import Book, OwnFill, snapshot_is_current
from domain.messages import BookUpdate, Decisions, Failure, PollNow, PositionsSnapshot, Tick
from domain.model import Execution, OptionContract, OrderType, Side, WorkingOrder
from domain.order_refs import is_cleanup_ref, make_order_ref, ref_sequence
from domain.policy import CancelOrder, Close, ConvertStop, closable_quantity
from domain.pricing import limit_price
from gateways.broker import (
    Broker,
    BrokerError,
    BrokerUnavailable,
    OrderEvent,
    OrderNotOurs,
    OrderOutcomeUnknown,
    OrderRefused,
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
        kept: ExecutorState | None = ctx.keeper.get(self.role)
        self.state = kept.copy() if kept else ExecutorState()
        self.records = Records(ctx, self.audit)
        # No order until orders and fills were read after this start: a message lost in a crash (a fill)
        # is only known again from the broker, and the kept state may be older than it.
        self.started_at = ctx.clock.now()
        self.rebuilt = False
        self.new_fills: list[OwnFill] = []  # taken in by the message being handled, for the RiskAssessor
        self.published: Book | None = None

    def on_start(self) -> None:
        self.send(Roles.POSITION_POLLER, PollNow("executor (re)started", with_executions=True))

    def handle(self, message: Any) -> Any:
        if isinstance(message, Decisions):
            self._apply(message)
        elif isinstance(message, OrderEvent):
            self._order_event(message)
        elif isinstance(message, Execution):
            self._execution(message)
        elif isinstance(message, PositionsSnapshot):
            self._snapshot(message)
        elif isinstance(message, Tick):
            self._walk(message.now)
        else:
            return super().handle(message)
        self._publish()
        # A copy, taken only now the message is handled in full (OTP-style): a crash half way through
        # leaves the replacement the state of the message before.
        self.ctx.keeper.keep(self.role, self.state.copy())
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
        if not self.rebuilt:
            log.info("%s %s held: orders and fills not read since the executor started", what, contract.key)
            return True
        return False

    def _not_sent(self, contract: OptionContract, at: datetime, what: str, error: BrokerError | None = None) -> None:
        detail = f" ({error})" if error else ""
        self._refuse_once(contract, at, DISCONNECTED,
                          f"{what} not sent: broker disconnected; retried after reconnect{detail}")

    def _close(self, decision: Close, at: datetime, view: BatchView) -> None:
        contract = decision.contract
        if contract in view.own_contracts or contract in self.state.unresolved:
            return  # never a second order while one of ours works, or may be working, or awaits its fills
        position = view.positions.get(contract)
        if position is None or decision.side is not position.closing_side or self._refuses(contract, at, "close"):
            return
        settings = self.ctx.config.settings
        if contract in self.state.given_up:
            self._refuse_once(contract, at, "given up", f"close not sent: {contract.key} given up after "
                              f"{self.state.failures.get(contract, 0)} refusals; close it by hand")
            return
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
                               make_order_ref(contract, sequence), position=position.quantity)
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
        except OrderRefused as error:
            self._guard_fired(contract, at, str(error), order, own.stage)
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
        self.records.record(ActionKind.CLOSE, at, contract, quantity, decision.stage.value, decision.reason,
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
        self.records.record(ActionKind.CONVERT_STOP, at, order.contract, order.remaining, decision.stage.value,
                            decision.reason, order=order, success=True)
        self.alert(alerts.stop_converted(order.contract.key, order.order_id, order.remaining))

    def _cancel(self, decision: CancelOrder, at: datetime) -> None:
        order = decision.order
        if not self._handle_trader_order(order, at, ActionKind.CANCEL, "cancel", decision.stage.value,
                                         lambda: self.broker.cancel(order.order_id)):
            return
        self.records.record(ActionKind.CANCEL, at, order.contract, order.remaining, decision.stage.value,
                            decision.reason, order=order, success=True)

    def _handle_trader_order(self, order: WorkingOrder, at: datetime, kind: ActionKind, what: str, stage: str,
                             call: Callable[[], None]) -> bool:
        """Convert or cancel a trader's order once; True when the broker took it."""
        if not order.modifiable or order.order_id in self.state.handled_orders \
                or self._refuses(order.contract, at, what):
            return False
        self.state.handled_orders[order.order_id] = order
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
            self.records.record(kind, at, order.contract, order.remaining, stage, f"{what} refused by the broker",
                                order=order, success=False, error=str(error))
            self.alert(alerts.close_failed(order.contract.key, order.remaining, order.side.value,
                                           f"{what} of order {order.order_id} refused: {error}"))
            return False
        except BrokerError as error:
            self._failed(order.contract, order.side, order.remaining, at, str(error), order.order_ref, stage)
        del self.state.handled_orders[order.order_id]
        return False

    # --- the price walk --------------------------------------------------------------------------
    def _walk(self, now: datetime) -> None:
        settings = self.ctx.config.settings
        interval = timedelta(seconds=settings.attempt_interval_seconds)
        last_call = self._seconds_to_close(now) <= LAST_CALL_SECONDS
        for own in list(self.state.own.values()):
            if own.final or own.ambiguous or own.ended_at is not None or now - own.priced_at < interval \
                    and not last_call:
                continue
            contract = own.order.contract
            used = self.state.attempts.get(contract, 0)
            if used >= settings.max_attempts or contract in self.state.given_up \
                    or self._refuses(contract, now, "price walk"):
                continue
            attempt = settings.max_attempts - 1 if last_call else max(used, own.attempt + 1)
            price = self._price(own.order.side, own.reference_mid, own.bid, own.ask, attempt)
            if price is not None and price == own.order.limit_price:
                own.attempt, own.priced_at = attempt, now  # the same price again is no attempt: nothing sent
                continue
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
                own.ambiguous = True  # the walk waits until a read of the broker's orders settles it
                self._unknown_outcome(ActionKind.CLOSE, now, "price walk", error, own.order, own.stage)
                continue
            except OrderNotOurs as error:
                own.final = True  # IB will never let us change it: it works at its price, no failure
                log.warning("%s: %s", own.order.order_ref, error)
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

    def _price(self, side: Side, mid: float | None, bid: float | None, ask: float | None, attempt: int) -> float | None:
        settings = self.ctx.config.settings
        if mid is None:
            return None
        return limit_price(side, mid, bid, ask, attempt, settings.max_attempts, settings.max_slippage)

    # --- order outcomes --------------------------------------------------------------------------
    def _order_event(self, event: OrderEvent) -> None:
        own = self.state.find(event.order_id, event.order_ref) or self._claim(event.order_id, event.order_ref)
        if own is None:
            self._trader_order_event(event)
            return
        self._late_commission(own, event)
        if own is self.state.finished.get(own.order.order_id):
            return
        if event.refusal:
            self._change_refused(own, event)
        if event.status in (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED):
            own.ambiguous = False  # the broker knows it working (reconciled): the walk may go on
            self._refusal_confirmed(own, event.at)
        elif event.status is OrderStatus.UNKNOWN:
            own.ambiguous = True  # unresolved, not rejected: a read of the broker's orders settles it
            log.warning("order %s outcome unknown (%s); waiting for IB's open orders", own.order.order_ref,
                        event.message or event.refusal)
            self.send(Roles.POSITION_POLLER, PollNow(f"order {own.order.order_ref} outcome unknown",
                                                     with_executions=True))
        elif event.status is OrderStatus.NOT_SENT:
            del self.state.own[event.order_id]
            self.state.attempts[own.order.contract] = max(self.state.attempts.get(own.order.contract, 1) - 1, 0)
            self._not_sent(own.order.contract, event.at, "close", BrokerUnavailable(event.message))
        elif event.status is OrderStatus.REJECTED and not own.order.filled:
            del self.state.own[event.order_id]
            self.ctx.metrics.order_rejected()
            self._failed(own.order.contract, own.order.side, own.order.remaining, event.at,
                         event.message or "rejected", own.order.order_ref, own.stage, order_id=event.order_id)
        elif event.status.is_final:
            if event.status is OrderStatus.CANCELLED:
                self.ctx.metrics.order_cancelled()
            self._ended(own, event.filled, event.at)

    def _trader_order_event(self, event: OrderEvent) -> None:
        """A trader's order we cancelled: once IB confirms its end, what it filled is known and the rest is ours to
        close, at once (not at the next scheduled read)."""
        handled = self.state.handled_orders.get(event.order_id)
        if handled is None or not event.status.is_final:
            return
        self.state.book = self.state.book.with_order_ended(handled, event.filled, event.at)
        self.send(Roles.POSITION_POLLER, PollNow(f"order {event.order_id} of the trader ended"))

    def _change_refused(self, own: OwnOrder, event: OrderEvent) -> None:
        """IB refused a change (a price, to market). The order may still be working at its old price: the
        refusal is a failure of the contract once IB shows it still working, none if it ended meanwhile."""
        self.records.record(ActionKind.REJECT, event.at, own.order.contract, own.order.remaining, own.stage,
                            "change refused by the broker; the order may still be working at its previous price",
                            order=own.order, success=False, error=event.refusal)
        own.pending_refusal = event.refusal

    def _refusal_confirmed(self, own: OwnOrder, at: datetime) -> None:
        if own.pending_refusal:
            refusal, own.pending_refusal = own.pending_refusal, ""
            self._failed(own.order.contract, own.order.side, own.order.remaining, at, refusal, own.order.order_ref,
                         own.stage, order_id=own.order.order_id, recorded=True)

    def _ended(self, own: OwnOrder, filled: int, at: datetime) -> None:
        """The broker says the order ended having filled ``filled``: followed until those executions are in."""
        own.ended_at = own.ended_at or at
        own.pending_refusal = ""  # a change refused because the order had ended is no failure
        own.order = replace(own.order, quantity=max(filled, own.order.filled))
        if own.awaiting_executions:
            log.warning("%s ended with %d filled, %d of them not yet reported as executions", own.order.order_ref,
                        filled, own.awaiting_executions)
            self.send(Roles.POSITION_POLLER, PollNow(f"executions of {own.order.order_ref}", with_executions=True))
        self._finish_if_done(own)

    def _finish_if_done(self, own: OwnOrder) -> None:
        if own.ended_at is None or own.awaiting_executions:
            return
        self.state.own.pop(own.order.order_id, None)
        if own.order.filled:
            self.state.finished[own.order.order_id] = own  # IB reports the commission after the fill

    def _execution(self, execution: Execution) -> None:
        if execution.exec_id in self.state.book.applied:
            return  # reported again (the live event and a later reqExecutions, a restart): one fill
        own = self.state.find(execution.order_id, execution.order_ref) \
            or self._claim(execution.order_id, execution.order_ref) or self._missed(execution)
        if own is None:
            return  # not one of ours
        # The part IB's status had already told us of (counted as filled without an execution) is not new.
        known, own.inferred = min(own.inferred, execution.quantity), max(own.inferred - execution.quantity, 0)
        new = execution.quantity - known
        own.order = replace(own.order, filled=own.order.filled + new,
                            quantity=max(own.order.quantity, own.order.filled + new))
        own.ambiguous = False
        commission = self._commission_with_fill(own, execution)
        slippage = fill_slippage(own.order.side, own.reference_mid, execution.price)
        reason = f"{own.reason}; commission ${commission:.2f} (in pnl_impact)" if commission else own.reason
        self.records.record(
            ActionKind.FILL, execution.at, own.order.contract, execution.quantity, own.stage, reason, order=own.order,
            success=True, price=execution.price, reference_mid=own.reference_mid, slippage=slippage,
            pnl=fill_pnl(own.order.side, execution.price, own.avg_cost, execution.quantity, commission),
            details={"exec_id": execution.exec_id, **({"commission": commission} if commission else {})},
            identity=f"execution {execution.exec_id}")
        fill = OwnFill(execution.exec_id, own.order.contract, own.order.side, execution.quantity, execution.at)
        self.new_fills.append(fill)
        self.state.book = self.state.book.with_fill(replace(fill, quantity=new))  # its exec id is taken in either way
        self.ctx.metrics.order_filled(slippage, execution.quantity)
        self.alert(alerts.close_filled(own.order.contract.key, execution.quantity, own.order.side.value,
                                       execution.price, own.order.order_ref or ""))
        self.send(Roles.POSITION_POLLER, PollNow(f"fill of {own.order.order_ref}"))
        self._finish_if_done(own)

    def _missed(self, execution: Execution) -> OwnOrder | None:
        """An execution of ours the process never saw placed (it filled while we were down): audited all the same."""
        if not is_cleanup_ref(execution.order_ref):
            return None
        order = WorkingOrder(execution.order_id, execution.contract, execution.side, OrderType.LIMIT,
                             execution.quantity, order_ref=execution.order_ref)
        own = OwnOrder(order, None, None, None, "", "filled while the service was away", execution.at, 0,
                       ended_at=execution.at)
        self.state.finished[execution.order_id] = own
        log.warning("execution %s of %s filled while the service was away: recorded now", execution.exec_id,
                    execution.order_ref)
        return own

    def _commission_with_fill(self, own: OwnOrder, execution: Execution) -> float:
        if execution.commission is None:
            return 0.0
        own.commission += execution.commission
        return round(execution.commission, 4)

    def _late_commission(self, own: OwnOrder, event: OrderEvent) -> None:
        """The part of the order's commission (cumulative in events) not yet in the audit trail, as its own record:
        a written record is never rewritten, and a fill count must not see a second fill."""
        if event.commission is None or event.commission <= own.commission + 1e-9:
            return
        commission, own.commission = round(event.commission - own.commission, 4), event.commission
        self.records.record(ActionKind.COMMISSION, event.at, own.order.contract, None, own.stage,
                            f"commission ${commission:.2f} reported after the fill of {own.order.order_ref}",
                            order=own.order, pnl=-commission, details={"commission": commission},
                            identity=f"commission {own.order.order_ref or own.order.order_id} {event.commission:.4f}")

    def _failed(self, contract: OptionContract, side: Side, quantity: int, at: datetime, error: str,
                order_ref: str | None, stage: str, order_id: str | None = None, recorded: bool = False) -> None:
        """A refusal: a failure of this contract (given up after ``max_contract_failures``) and for the breaker."""
        if not recorded:
            self.records.record(ActionKind.REJECT, at, contract, quantity, stage, "order failed", success=False,
                                error=error, order=WorkingOrder(order_id or "", contract, side, OrderType.LIMIT,
                                                                quantity, order_ref=order_ref))
        failures = self.state.failures[contract] = self.state.failures.get(contract, 0) + 1
        self.alert(alerts.close_failed(contract.key, quantity, side.value, error, self.state.attempts.get(contract)))
        if failures >= self.ctx.config.settings.max_contract_failures and contract not in self.state.given_up:
            self.state.given_up.add(contract)
            log.error("%s given up after %d refusals (last: %s)", contract.key, failures, error)
            self.alert(order_alerts.contract_given_up(contract.key, failures, error))
        # Asked, not told: the breaker's verdict must be known before the next order goes out.
        self.ctx.registry.ask(Roles.CIRCUIT_BREAKER, Failure(at, f"{contract.key}: {error}", contract.key))

    def _guard_fired(self, contract: OptionContract, at: datetime, error: str, order: WorkingOrder, stage: str) -> None:
        log.critical("last guard refused %s: %s", order.order_ref, error)
        self.records.record(ActionKind.REJECT, at, contract, order.quantity, stage,
                            "refused by the broker's last guard", order=order, success=False, error=error)
        self.alert(order_alerts.guard_fired(contract.key, error))
        self.send(Roles.POSITION_POLLER, PollNow(f"guard fired for {contract.key}", with_executions=True))

    def _unknown_outcome(self, kind: ActionKind, at: datetime, what: str, error: BrokerError,
                         order: WorkingOrder, stage: str) -> None:
        """Unresolved, not rejected: no breaker count; the next read of orders and fills settles it."""
        contract = order.contract
        reason = f"{what} outcome unknown ({error}); nothing more sent for it until orders and fills are read"
        log.warning("%s %s: %s", contract.key, order.order_ref, reason)
        self.records.record(kind, at, contract, order.remaining, stage, reason, order=order, success=None,
                            error=str(error))
        self.send(Roles.POSITION_POLLER, PollNow(f"{what} outcome unknown for {contract.key}", with_executions=True))

    # --- snapshots and reconciliation ------------------------------------------------------------
    def _snapshot(self, snapshot: PositionsSnapshot) -> None:
        listed = [order for order in snapshot.orders if is_cleanup_ref(order.order_ref)]
        for order in listed:  # adopt our own orders (after a restart or reconnect), never resend
            self._adopt_or_note(order, snapshot.taken_at, with_executions=snapshot.executions is not None)
        if snapshot.executions is not None:
            for execution in snapshot.executions:  # then fills: what filled while we were away or down
                self._execution(execution)
            self._settle_by_executions(snapshot.taken_at)
            if snapshot.taken_at >= self.started_at:
                self.rebuilt = True
        for own in list(self.state.own.values()):
            if not own.ambiguous or own.ended_at is not None:
                continue
            at_broker = next((o for o in snapshot.orders if _same_order(o, own.order)), None)
            if at_broker is None:
                self._ended(own, own.order.filled, snapshot.taken_at)  # not at the broker: ended, or never was
            else:
                # Working at IB as IB lists it (a refused change left the old price): that is the truth.
                own.order = replace(own.order, order_type=at_broker.order_type, limit_price=at_broker.limit_price,
                                    quantity=at_broker.quantity)
                own.ambiguous = False
                self._refusal_confirmed(own, snapshot.taken_at)
        self._settle_unknown_outcomes(snapshot)
        self.state.book = self.state.book.with_own_orders(self._own_orders()).with_snapshot(
            snapshot.positions, snapshot.orders, snapshot.taken_at, self.ctx.config.settings.position_lag_seconds)
        if snapshot_is_current(snapshot.taken_at, self.broker.connected_since()):
            self.state.refusals = {r for r in self.state.refusals if r[1] not in (DISCONNECTED, STALE)}

    def _settle_by_executions(self, taken_at: datetime) -> None:
        """Orders that ended before this read of executions and still miss some: IB's word on how many filled
        stands (the read may lag it), so the missing part counts as filled, unseen, and the order is done."""
        for own in list(self.state.own.values()):
            if own.ended_at is None or own.ended_at > taken_at or not own.awaiting_executions:
                continue
            missing = own.awaiting_executions
            log.warning("%s: IB reports %d filled, %d of them without an execution yet: counted as filled",
                        own.order.order_ref, own.order.quantity, missing)
            self.state.book = self.state.book.with_fill(OwnFill(
                f"inferred: {own.order.order_ref or own.order.order_id} filled {own.order.quantity}",
                own.order.contract, own.order.side, missing, own.ended_at))
            self.records.record(ActionKind.CLOSE, taken_at, own.order.contract, missing, own.stage,
                                f"IB reports {missing} more filled than its executions show; counted as filled "
                                "until they come", order=own.order, success=None)
            own.inferred += missing
            own.order = replace(own.order, filled=own.order.quantity)
            self._finish_if_done(own)

    def _adopt_or_note(self, order: WorkingOrder, at: datetime, with_executions: bool) -> None:
        if self.state.find(order.order_id, order.order_ref) is not None:
            return
        if self._claim(order.order_id, order.order_ref) is not None:
            return
        if not order.modifiable:
            # Ours, from an earlier client id: IB refuses every change from this one. It works and covers the
            # position; walking it would only fail (six such failures used to halt all trading).
            if order.order_ref and order.order_ref not in self.state.foreign_ours:
                self.state.foreign_ours.add(order.order_ref)
                self.records.record(ActionKind.CLOSE, at, order.contract, order.remaining, "adopted",
                                    f"working order of ours under {order.owner or 'another client id'}: not ours to "
                                    "modify from this client id; it covers the position", order=order, success=None)
                self.alert(order_alerts.foreign_own_order(order.contract.key, order.order_ref, order.order_id,
                                                          order.owner or "another client id"))
            return
        self._adopt(order, at)
        if order.filled and not with_executions:
            self.send(Roles.POSITION_POLLER, PollNow(f"executions of adopted {order.order_ref}", with_executions=True))

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

    def _settle_unknown_outcomes(self, snapshot: PositionsSnapshot) -> None:
        """A read of orders *and fills* made after an unknown outcome settles it: not listed and no execution of
        it means it never was (a position read alone cannot say: it may lag the fill)."""
        if snapshot.executions is not None:
            for contract, pending in list(self.state.unresolved.items()):
                if snapshot.taken_at > pending.since:
                    del self.state.unresolved[contract]
                    log.warning("order %s of unknown outcome is not at the broker and never filled",
                                pending.own.order.order_ref)
        for order_id, since in list(self.state.unsettled_handled.items()):
            if snapshot.taken_at > since:
                del self.state.unsettled_handled[order_id]
                self.state.handled_orders.pop(order_id, None)  # still a stop (or still there): the policy asks again

    def _adopt(self, order: WorkingOrder, at: datetime) -> None:
        """Follow one of our orders found working at the broker. What it filled before comes as executions (read
        with the snapshot); until they are in, the filled part counts as still working: never as closed."""
        contract = order.contract
        self.state.sequence[contract] = max(self.state.sequence.get(contract, 0), ref_sequence(order.order_ref or ""))
        self.state.attempts.setdefault(contract, 1)
        position = next((p for p in self.state.book.effective_positions() if p.contract == contract), None)
        self.state.own[order.order_id] = OwnOrder(
            replace(order, filled=0), order.limit_price, None, None, "adopted", "adopted after restart", at,
            self.state.attempts[contract] - 1, avg_cost=position.avg_cost if position else 0.0,
            final=order.order_type is OrderType.MARKET)
        log.warning("adopted working order %s (%s) found at the broker", order.order_ref, order.order_id)

    # --- helpers ---------------------------------------------------------------------------------
    def _own_orders(self) -> tuple[WorkingOrder, ...]:
        return tuple(own.order for own in self.state.own.values())

    def _publish(self) -> None:
        self.state.book = self.state.book.with_own_orders(self._own_orders())
        if self.new_fills or self.state.book != self.published:
            self.published = self.state.book
            self.send(Roles.RISK_ASSESSOR, BookUpdate(self.state.book, tuple(self.new_fills)))
            self.new_fills.clear()

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
        self.records.record(ActionKind.CLOSE, at, contract, None, "", text, success=False, error=text)
        self.alert(alerts.close_failed(contract.key, 0, "", text))


def _same_order(listed: WorkingOrder, ours: WorkingOrder) -> bool:
    """Ours by orderRef; a trader's order we took over (a converted stop) by who placed it and its id."""
    if is_cleanup_ref(ours.order_ref):
        return listed.order_ref == ours.order_ref
    return listed.identity == ours.identity
