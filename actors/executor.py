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
from datetime import datetime
from typing import Any

from actors.base import SupervisedActor
from actors.context import ActorContext, Roles
from actors.executor_combos import ComboDesk
from actors.executor_records import Records
from actors.executor_reports import BrokerReports
from actors.executor_state import BatchView, ExecutorState, OwnOrder, Unresolved
from domain import alerts, order_alerts
from domain.audit import ActionKind
from domain.book import Book, snapshot_is_current
from domain.execution import Priced, attempts_left, plan_close, walk_step
from domain.messages import (
    BookUpdate,
    Decisions,
    Failure,
    ForgiveFailures,
    OrderSent,
    PollNow,
    PositionsSnapshot,
    Tick,
)
from domain.model import Execution, OptionContract, OrderType, Side, WorkingOrder
from domain.order_refs import make_order_ref
from domain.policy import CancelOrder, Close, CloseCombo, ConvertStop
from gateways.broker import (
    BrokerError,
    BrokerUnavailable,
    OrderEvent,
    OrderNotOurs,
    OrderOutcomeUnknown,
    OrderRefused,
    OrderRequest,
)
from gateways.ports import Broker

log = logging.getLogger("cleanup.executor")
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
        self.reports = BrokerReports(ctx, self.state, self.records, alert=self.alert,
                                     poll=lambda poll: self.send(Roles.POSITION_POLLER, poll),
                                     failed=self._failed, not_sent=self._not_sent,
                                     combo_execution=self._combo_execution)
        self.combos = ComboDesk(ctx, self.state, self.records, broker, alert=self.alert,
                                poll=lambda poll: self.send(Roles.POSITION_POLLER, poll), close_leg=self._close,
                                refuses=self._refuses, failed=self._failed, not_sent=self._not_sent,
                                guard_fired=self._guard_fired, new_fills=self.reports.new_fills)
        self.published: Book | None = None

    def on_start(self) -> None:
        self.send(Roles.POSITION_POLLER, PollNow("executor (re)started", with_executions=True))

    def handle(self, message: Any) -> Any:
        if isinstance(message, Decisions):
            self._apply(message)
        elif isinstance(message, OrderEvent):
            if self.combos.owns(message.order_id, message.order_ref):
                self.combos.order_event(message)
            else:
                self.reports.order_event(message)
        elif isinstance(message, Execution):
            self.reports.execution(message)
        elif isinstance(message, PositionsSnapshot):
            self.combos.snapshot_orders(message)
            self.reports.snapshot(message)
            self.combos.settle_unknown(message)
            if snapshot_is_current(message.taken_at, self.broker.connected_since()):
                self.state.refusals = {r for r in self.state.refusals if r[1] not in (DISCONNECTED, STALE)}
        elif isinstance(message, Tick):
            self._walk(message.now)
            self.combos.walk(message.now)
        elif isinstance(message, ForgiveFailures):
            for contract in list(self.state.given_up | set(self.state.failures)):
                self.state.forgive(contract)
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
        self.combos.refresh_quotes(batch.quotes)
        view = BatchView.of(self.state.book, self.state.own, self.state.combos.blocked())
        for decision in batch.decisions:
            if isinstance(decision, Close):
                self._close(decision, batch.at, view)
            elif isinstance(decision, CloseCombo):
                self.combos.close(decision, batch.at, view)
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
        if not self.reports.rebuilt:
            log.info("%s %s held: orders and fills not read since the executor started", what, contract.key)
            return True
        return False

    def _combo_execution(self, execution: Execution) -> bool:
        """An execution of one of our combos (live, or read back with a snapshot): the combo desk's."""
        if not self.combos.owns(execution.order_id, execution.order_ref):
            return False
        self.combos.execution(execution)
        return True

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
        if decision.manual:
            self.state.forgive(contract)  # a person asked, having fixed the cause (or to try once more)
        if contract in self.state.given_up:
            self._refuse_once(contract, at, "given up", f"close not sent: {contract.key} given up after "
                              f"{self.state.failures.get(contract, 0)} refusals; close it by hand")
            return
        used = self.state.attempts.get(contract, 0)
        if not attempts_left(used, settings):
            self._refuse_once(contract, at, "attempts", f"{settings.max_attempts} closing attempts used; "
                              "close it by hand (ctl close) or in TWS")
            return
        plan = plan_close(decision.quantity, position, view.working.get(contract, []),
                          decision.reference_mid, decision.bid, decision.ask, used, self._seconds_to_close(at),
                          settings)
        if plan is None:
            return
        quantity, attempt, price = plan.quantity, plan.price.attempt, plan.price.limit
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
        seconds_to_close = self._seconds_to_close(now)
        for own in list(self.state.own.values()):
            if own.final or own.ambiguous or own.ended_at is not None:
                continue
            contract = own.order.contract
            used = self.state.attempts.get(contract, 0)
            step = walk_step(own.order.side, own.reference_mid, own.bid, own.ask,
                             Priced(own.attempt, own.order.limit_price), used,
                             (now - own.priced_at).total_seconds(), seconds_to_close, settings)
            if step is None or contract in self.state.given_up or self._refuses(contract, now, "price walk"):
                continue
            attempt, price = step.price.attempt, step.price.limit
            if not step.send:
                own.attempt, own.priced_at = attempt, now
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

    # --- order outcomes --------------------------------------------------------------------------
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
    # --- helpers ---------------------------------------------------------------------------------
    def _publish(self) -> None:
        self.state.book = self.state.book.with_own_orders(self.state.own_orders())
        fills = self.reports.new_fills
        if fills or self.state.book != self.published:
            self.published = self.state.book
            self.send(Roles.RISK_ASSESSOR, BookUpdate(self.state.book, tuple(fills)))
            fills.clear()

    def _attempted(self, contract: OptionContract, used: int) -> None:
        """A price reached (or may have reached) the broker: one of the position's attempts."""
        self.state.attempts[contract] = used + 1
        self.ctx.metrics.closing_attempt()
        self.ctx.registry.tell(Roles.CIRCUIT_BREAKER, OrderSent(self.ctx.clock.now()))

    def _seconds_to_close(self, now: datetime) -> float:
        return (self.ctx.session.close - now).total_seconds()

    def _refuse_once(self, contract: OptionContract, at: datetime, kind: str, text: str) -> None:
        if (contract, kind) in self.state.refusals:
            return
        self.state.refusals.add((contract, kind))
        self.records.record(ActionKind.CLOSE, at, contract, None, "", text, success=False, error=text)
        self.alert(alerts.close_failed(contract.key, 0, "", text))


