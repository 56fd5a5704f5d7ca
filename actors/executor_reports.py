"""What the broker reports about our orders, as the Executor takes it in: order states, executions, reads.

The rules of order truth (see actors/executor.py and domain/book.py): fills are executions, counted once;
an order ends when the broker says so and is followed until its executions account for what it filled;
a refused change is a failure only once the broker shows the order still working; a read of orders and
executions after a (re)start rebuilds what a crash lost; our orders of another client id are noted, never
followed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from actors.context import ActorContext
from actors.executor_records import Records
from actors.executor_state import ExecutorState, OwnOrder
from domain import alerts, order_alerts
from domain.alerts import Alert
from domain.audit import ActionKind
from domain.book import OwnFill
from domain.execution import fill_pnl, fill_slippage
from domain.messages import PollNow, PositionsSnapshot
from domain.model import Execution, OrderType, WorkingOrder
from domain.order_refs import is_cleanup_ref, ref_sequence
from gateways.broker import BrokerUnavailable, OrderEvent, OrderStatus

log = logging.getLogger("cleanup.executor")


class BrokerReports:
    def __init__(self, ctx: ActorContext, state: ExecutorState, records: Records, *, alert: Callable[[Alert], None],
                 poll: Callable[[PollNow], None], failed: Callable[..., None], not_sent: Callable[..., None],
                 combo_execution: Callable[[Execution], bool]) -> None:
        self.ctx = ctx
        self.state = state
        self.records = records
        self.alert = alert
        self.poll = poll
        self.failed = failed  # Executor._failed: a refusal of a contract's order
        self.not_sent = not_sent  # Executor._not_sent: nothing reached the broker
        self.combo_execution = combo_execution  # True: an execution of one of our combos, taken in by its desk
        # No order until orders and fills were read after this start: a message lost in a crash (a fill) is
        # only known again from the broker, and the kept state may be older than it.
        self.started_at = ctx.clock.now()
        self.rebuilt = False
        self.new_fills: list[OwnFill] = []  # taken in by the message being handled, for the RiskAssessor

    def order_event(self, event: OrderEvent) -> None:
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
            self.poll(PollNow(f"order {own.order.order_ref} outcome unknown", with_executions=True))
        elif event.status is OrderStatus.NOT_SENT:
            del self.state.own[event.order_id]
            self.state.attempts[own.order.contract] = max(self.state.attempts.get(own.order.contract, 1) - 1, 0)
            self.not_sent(own.order.contract, event.at, "close", BrokerUnavailable(event.message))
        elif event.status is OrderStatus.REJECTED and not own.order.filled:
            del self.state.own[event.order_id]
            self.ctx.metrics.order_rejected()
            self.failed(own.order.contract, own.order.side, own.order.remaining, event.at,
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
        self.poll(PollNow(f"order {event.order_id} of the trader ended"))

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
            self.failed(own.order.contract, own.order.side, own.order.remaining, at, refusal, own.order.order_ref,
                        own.stage, order_id=own.order.order_id, recorded=True)

    def _ended(self, own: OwnOrder, filled: int, at: datetime) -> None:
        """The broker says the order ended having filled ``filled``: followed until those executions are in."""
        own.ended_at = own.ended_at or at
        own.pending_refusal = ""  # a change refused because the order had ended is no failure
        own.order = replace(own.order, quantity=max(filled, own.order.filled))
        if own.awaiting_executions:
            log.warning("%s ended with %d filled, %d of them not yet reported as executions", own.order.order_ref,
                        filled, own.awaiting_executions)
            self.poll(PollNow(f"executions of {own.order.order_ref}", with_executions=True))
        self._finish_if_done(own)

    def _finish_if_done(self, own: OwnOrder) -> None:
        if own.ended_at is None or own.awaiting_executions:
            return
        self.state.own.pop(own.order.order_id, None)
        if own.order.filled:
            self.state.finished[own.order.order_id] = own  # IB reports the commission after the fill

    def execution(self, execution: Execution) -> None:
        if execution.exec_id in self.state.book.applied:
            return  # reported again (the live event and a later reqExecutions, a restart): one fill
        if self.combo_execution(execution):
            return
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
        self.poll(PollNow(f"fill of {own.order.order_ref}"))
        self._finish_if_done(own)

    def _missed(self, execution: Execution) -> OwnOrder | None:
        """An execution of ours the process never saw placed (it filled while we were down): audited all the same,
        and its orderRef's number never used again for a new order (a reused ref would be taken for it)."""
        if not is_cleanup_ref(execution.order_ref):
            return None
        contract = execution.contract
        self.state.sequence[contract] = max(self.state.sequence.get(contract, 0),
                                            ref_sequence(execution.order_ref or ""))
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

    def snapshot(self, snapshot: PositionsSnapshot) -> None:
        # our combos' legs are the combo desk's (actors/executor_combos.py)
        listed = [order for order in snapshot.orders if is_cleanup_ref(order.order_ref) and not order.combo]
        for order in listed:  # adopt our own orders (after a restart or reconnect), never resend
            self._adopt_or_note(order, snapshot.taken_at, with_executions=snapshot.executions is not None)
        if snapshot.executions is not None:
            for execution in snapshot.executions:  # then fills: what filled while we were away or down
                self.execution(execution)
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
        self.state.book = self.state.book.with_own_orders(self.state.own_orders()).with_snapshot(
            snapshot.positions, snapshot.orders, snapshot.taken_at, self.ctx.config.settings.position_lag_seconds)

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
            self.poll(PollNow(f"executions of adopted {order.order_ref}", with_executions=True))

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


def _same_order(listed: WorkingOrder, ours: WorkingOrder) -> bool:
    """Ours by orderRef; a trader's order we took over (a converted stop) by who placed it and its id."""
    if is_cleanup_ref(ours.order_ref):
        return listed.order_ref == ours.order_ref
    return listed.identity == ours.identity
