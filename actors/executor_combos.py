"""The Executor's combo orders: a structure closed with one order for all its legs (domain.structure_rules).

A combo is placed as a whole (``Broker.place_combo``), its net limit walked like a single close's price (each
leg conceding at most the slippage cap, ``domain.execution.combo_price_at``), then sent to market; it fills
whole or not at all, and its executions come one per leg. The same order truth holds as for single orders:
every leg's working contracts count against that leg's position until the broker says the combo ended and
its executions are in; an unknown outcome blocks every leg until a read of orders and fills settles it. When
the broker refuses combos for a structure, its legs are closed one by one, short legs first
(``CloseCombo.short_legs_first``), and the structure is not offered as a combo again this session. A combo
order has its own budget of ``max_attempts`` prices: walking it uses none of its legs' contracts' attempts,
which the rest of a position split between a spread and a single leg needs for its own close.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from actors.context import ActorContext, Roles
from actors.executor_combo_state import ComboBook, ComboLegState, OwnCombo
from actors.executor_records import Records
from actors.executor_state import BatchView, ExecutorState
from domain import alerts
from domain.alerts import Alert
from domain.audit import ActionKind
from domain.book import OwnFill
from domain.execution import (
    Priced,
    combo_price_at,
    combo_walk_step,
    fill_pnl,
    fill_slippage,
    in_last_call,
)
from domain.messages import OrderSent, PollNow, PositionsSnapshot
from domain.model import Execution, OptionContract, OrderType, Quote, WorkingOrder
from domain.order_refs import make_combo_ref, ref_sequence
from domain.policy import Close, CloseCombo, closable_quantity
from gateways.broker import (
    BrokerError,
    BrokerUnavailable,
    ComboLegRequest,
    ComboRefused,
    ComboRequest,
    OrderEvent,
    OrderOutcomeUnknown,
    OrderRefused,
    OrderStatus,
)
from gateways.ports import Broker

log = logging.getLogger("cleanup.executor")
REFUSED_PREFIX = "combo refused"


class ComboDesk:
    def __init__(self, ctx: ActorContext, state: ExecutorState, records: Records, broker: Broker, *,
                 alert: Callable[[Alert], None], poll: Callable[[PollNow], None],
                 close_leg: Callable[[Close, datetime, BatchView], None],
                 refuses: Callable[[OptionContract, datetime, str], bool], failed: Callable[..., None],
                 not_sent: Callable[..., None], guard_fired: Callable[..., None], new_fills: list[OwnFill]) -> None:
        self.ctx, self.state, self.records, self.broker = ctx, state, records, broker
        self.alert, self.poll, self.close_leg, self.refuses = alert, poll, close_leg, refuses
        self.failed, self.not_sent, self.guard_fired = failed, not_sent, guard_fired
        self.new_fills = new_fills  # the BrokerReports' list: what the RiskAssessor hears of with the book

    @property
    def book(self) -> ComboBook:
        return self.state.combos

    # --- placing --------------------------------------------------------------------------------
    def close(self, decision: CloseCombo, at: datetime, view: BatchView) -> None:
        contracts = decision.structure.contracts
        if any(c in view.own_contracts or c in self.state.unresolved for c in contracts):
            return  # one of ours works (or may) on a leg: nothing more until it ends
        if decision.structure.name in self.book.refused or any(c in self.state.given_up for c in contracts):
            for leg in decision.short_legs_first():
                self.close_leg(leg, at, view)
            return
        if self.refuses(contracts[0], at, "combo close"):
            return
        settings = self.ctx.config.settings
        positions = [view.positions.get(leg.contract) for leg in decision.legs]
        if any(p is None or p.closing_side is not leg.side for p, leg in zip(positions, decision.legs, strict=True)):
            return
        units = min([decision.units, *(closable_quantity(p, view.working.get(p.contract, [])) // decision.ratio(leg)
                                       for p, leg in zip(positions, decision.legs, strict=True) if p is not None)])
        if units <= 0:
            return
        legs = [ComboLegState(leg.contract, leg.side, decision.ratio(leg), leg.reference_mid, leg.bid, leg.ask,
                              avg_cost=p.avg_cost if p else 0.0)
                for p, leg in zip(positions, decision.legs, strict=True)]
        final = in_last_call((self.ctx.session.close - at).total_seconds())
        price = combo_price_at([leg.price() for leg in legs], settings.max_attempts - 1 if final else 0, settings)
        first = contracts[0]
        sequence = self.state.sequence[first] = self.state.sequence.get(first, 0) + 1
        ref = make_combo_ref(contracts, sequence)
        request = ComboRequest(tuple(ComboLegRequest(leg.contract, leg.side, leg.ratio, p.quantity if p else 0)
                                     for p, leg in zip(positions, legs, strict=True)), units,
                               OrderType.MARKET if price.limit is None else OrderType.LIMIT, price.limit, ref)
        combo = OwnCombo("", ref, decision.structure.name, legs, units, price.limit, price.attempt, at,
                         decision.stage.value, decision.reason, final=price.limit is None)
        try:
            order_id = self.broker.place_combo(request)
        except BrokerUnavailable as error:
            self.not_sent(first, at, "combo close", error)
            return
        except ComboRefused as error:
            self._refused(decision, at, str(error))
            for leg in decision.short_legs_first():
                self.close_leg(leg, at, view)
            return
        except OrderOutcomeUnknown as error:
            self._attempted(combo)
            self.book.unresolved[ref] = (self.ctx.clock.now(), combo)
            self._record_legs(ActionKind.CLOSE, at, combo, f"combo close outcome unknown ({error}); nothing more "
                              "sent for its legs until orders and fills are read", success=None, error=str(error))
            self.poll(PollNow(f"combo {ref} outcome unknown", with_executions=True))
            return
        except OrderRefused as error:
            self.guard_fired(first, at, str(error), combo.working_orders()[0], combo.stage)
            return
        except BrokerError as error:
            self._attempted(combo)
            self.ctx.metrics.order_rejected()
            self.failed(first, legs[0].side, units, at, str(error), ref, combo.stage)
            return
        self._attempted(combo)
        combo.order_id = order_id
        self.book.working[order_id] = combo
        for order in combo.working_orders():
            view.working.setdefault(order.contract, []).append(order)
            view.own_contracts.add(order.contract)
        self.ctx.metrics.order_submitted()
        self._record_legs(ActionKind.CLOSE, at, combo, combo.reason, success=True)

    def _refused(self, decision: CloseCombo, at: datetime, error: str) -> None:
        """No failure (nothing was sent, and retrying cannot help): the legs go one by one, short legs first."""
        self.book.refused.add(decision.structure.name)
        log.warning("%s: combo refused (%s); closing its legs one by one, short legs first", decision.structure.name,
                    error)
        for leg in decision.legs:
            self.records.record(ActionKind.CLOSE, at, leg.contract, leg.quantity, decision.stage.value,
                                f"{decision.structure.name}: the broker refused the combo; its legs are closed one "
                                "by one, short legs first", success=None, error=error)

    def _attempted(self, combo: OwnCombo) -> None:
        """A net price reached (or may have reached) the broker: one of the combo's attempts."""
        combo.used += 1
        self.ctx.metrics.closing_attempt()
        self.ctx.registry.tell(Roles.CIRCUIT_BREAKER, OrderSent(self.ctx.clock.now()))

    def _record_legs(self, kind: ActionKind, at: datetime, combo: OwnCombo, reason: str, *, success: bool | None,
                     error: str | None = None) -> None:
        for order, leg in zip(combo.working_orders(), combo.legs, strict=True):
            self.records.record(kind, at, leg.contract, order.quantity, combo.stage, reason, order=order,
                                success=success, error=error, reference_mid=leg.reference_mid,
                                details={"combo": combo.name, "net_limit": combo.limit, "units": combo.units})

    # --- walking --------------------------------------------------------------------------------
    def refresh_quotes(self, quotes: Mapping[str, Quote]) -> None:
        """The walk follows the market, as the single closes' does."""
        for combo in self.book.working.values():
            for leg in combo.legs:
                quote = quotes.get(leg.contract.key)
                if quote is not None and quote.mid is not None:
                    leg.reference_mid, leg.bid, leg.ask = quote.mid, quote.bid, quote.ask

    def walk(self, now: datetime) -> None:
        settings = self.ctx.config.settings
        seconds_to_close = (self.ctx.session.close - now).total_seconds()
        for combo in list(self.book.working.values()):
            if combo.final or combo.ambiguous or combo.ended_at is not None:
                continue
            unpriced = any(leg.reference_mid is None for leg in combo.legs)
            if unpriced and not in_last_call(seconds_to_close):
                continue  # adopted after a restart: its net stands until quotes of every leg come in
            step = combo_walk_step(tuple(leg.price() for leg in combo.legs), Priced(combo.attempt, combo.limit),
                                   combo.used, (now - combo.priced_at).total_seconds(), seconds_to_close, settings)
            if step is None or self.refuses(combo.contracts[0], now, "combo price walk"):
                continue
            if not step.send:
                combo.attempt, combo.priced_at = step.price.attempt, now
                continue
            try:
                if step.price.limit is None:
                    self.broker.modify_to_market(combo.working_orders()[0])
                else:
                    self.broker.modify_limit(combo.order_id, step.price.limit)
            except BrokerUnavailable as error:
                self.not_sent(combo.contracts[0], now, "combo price walk", error)
                continue
            except OrderOutcomeUnknown as error:
                self._attempted(combo)
                combo.ambiguous = True
                self.poll(PollNow(f"combo {combo.order_ref} walk outcome unknown ({error})", with_executions=True))
                continue
            except BrokerError as error:
                self._attempted(combo)
                self.failed(combo.contracts[0], combo.legs[0].side, combo.units, now, str(error), combo.order_ref,
                            combo.stage)
                continue
            self._attempted(combo)
            combo.attempt, combo.priced_at, combo.limit = step.price.attempt, now, step.price.limit
            combo.final = step.price.limit is None
            log.info("walk combo %s attempt %d -> %s", combo.order_ref, step.price.attempt + 1,
                     step.price.limit if step.price.limit is not None else "MKT")

    # --- what the broker reports ----------------------------------------------------------------
    def owns(self, order_id: str, order_ref: str | None) -> bool:
        return self.book.find(order_id, order_ref) is not None or (order_ref or "") in self.book.unresolved

    def order_event(self, event: OrderEvent) -> None:
        combo = self._claim(event.order_id, event.order_ref) or self.book.find(event.order_id, event.order_ref)
        if combo is None:
            return
        if event.status in (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED):
            combo.ambiguous = False
        elif event.status is OrderStatus.UNKNOWN:
            combo.ambiguous = True
            self.poll(PollNow(f"combo {combo.order_ref} outcome unknown", with_executions=True))
        elif event.status is OrderStatus.NOT_SENT:
            del self.book.working[combo.order_id]
            self.not_sent(combo.contracts[0], event.at, "combo close", BrokerUnavailable(event.message))
        elif event.status is OrderStatus.REJECTED and not any(leg.filled for leg in combo.legs):
            del self.book.working[combo.order_id]
            if event.message.lower().startswith(REFUSED_PREFIX):
                self.book.refused.add(combo.name)
                self._record_legs(ActionKind.CLOSE, event.at, combo, f"{combo.name}: the broker refused the combo; "
                                  "its legs are closed one by one, short legs first", success=None, error=event.message)
                return
            self.ctx.metrics.order_rejected()
            self.failed(combo.contracts[0], combo.legs[0].side, combo.units, event.at, event.message or "rejected",
                        combo.order_ref, combo.stage, order_id=combo.order_id)
        elif event.status.is_final:
            if event.status is OrderStatus.CANCELLED:
                self.ctx.metrics.order_cancelled()
            self._ended(combo, event.filled, event.at)

    def _ended(self, combo: OwnCombo, filled_units: int, at: datetime) -> None:
        combo.ended_at = combo.ended_at or at
        combo.filled_units = max(filled_units, *(leg.filled // leg.ratio for leg in combo.legs))
        if not combo.done:
            self.poll(PollNow(f"executions of combo {combo.order_ref}", with_executions=True))
        self._finish_if_done(combo)

    def _finish_if_done(self, combo: OwnCombo) -> None:
        if combo.done:
            self.book.working.pop(combo.order_id, None)

    def execution(self, execution: Execution) -> None:
        combo = self._claim(execution.order_id, execution.order_ref) \
            or self.book.find(execution.order_id, execution.order_ref)
        if combo is None or execution.exec_id in self.state.book.applied:
            return
        leg = combo.leg(execution.contract)
        if leg is None:
            log.error("execution %s of combo %s names %s, not one of its legs: ignored", execution.exec_id,
                      combo.order_ref, execution.contract.key)
            return
        leg.filled += execution.quantity
        combo.ambiguous = False
        commission = round(execution.commission, 4) if execution.commission else 0.0
        slippage = fill_slippage(leg.side, leg.reference_mid, execution.price)
        order = next(o for o in combo.working_orders() if o.contract == leg.contract)
        self.records.record(
            ActionKind.FILL, execution.at, leg.contract, execution.quantity, combo.stage,
            f"{combo.reason}; leg of combo {combo.name}", order=order, success=True, price=execution.price,
            reference_mid=leg.reference_mid, slippage=slippage,
            pnl=fill_pnl(leg.side, execution.price, leg.avg_cost, execution.quantity, commission),
            details={"exec_id": execution.exec_id, "combo": combo.name, **({"commission": commission} if commission
                                                                            else {})},
            identity=f"execution {execution.exec_id}")
        fill = OwnFill(execution.exec_id, leg.contract, leg.side, execution.quantity, execution.at)
        self.new_fills.append(fill)
        self.state.book = self.state.book.with_fill(fill)
        self.ctx.metrics.order_filled(slippage, execution.quantity)
        self.alert(alerts.close_filled(leg.contract.key, execution.quantity, leg.side.value, execution.price,
                                       combo.order_ref))
        self.poll(PollNow(f"fill of combo {combo.order_ref}"))
        self._finish_if_done(combo)

    def _claim(self, order_id: str, order_ref: str | None) -> OwnCombo | None:
        pending = self.book.unresolved.pop(order_ref or "", None)
        if pending is None:
            return None
        combo = pending[1]
        combo.order_id = order_id
        self.book.working[order_id] = combo
        log.warning("combo %s (%s) of unknown outcome is at the broker: followed", order_ref, order_id)
        return combo

    def snapshot_orders(self, snapshot: PositionsSnapshot) -> None:
        """Before the single orders' reconciliation: our combos the broker lists (claimed, adopted, or settled)."""
        listed: dict[str, list[WorkingOrder]] = {}
        for order in snapshot.orders:
            if order.combo and order.order_ref and order.order_ref.startswith("CLN-"):
                listed.setdefault(order.order_id, []).append(order)
        for order_id, legs in listed.items():
            combo = self._claim(order_id, legs[0].order_ref) or self.book.find(order_id, legs[0].order_ref)
            if combo is None:
                self._adopt(order_id, legs, snapshot.taken_at)
            elif combo.ambiguous and combo.ended_at is None:
                combo.limit, combo.ambiguous = legs[0].limit_price, False
        present = set(listed)
        for combo in list(self.book.working.values()):
            if combo.ambiguous and combo.ended_at is None and combo.order_id not in present:
                self._ended(combo, min(leg.filled // leg.ratio for leg in combo.legs), snapshot.taken_at)

    def settle_unknown(self, snapshot: PositionsSnapshot) -> None:
        """A read of orders and fills after an unknown outcome that shows neither: it never was."""
        if snapshot.executions is None:
            return
        for ref, (since, _) in list(self.book.unresolved.items()):
            if snapshot.taken_at > since:
                del self.book.unresolved[ref]
                log.warning("combo %s of unknown outcome is not at the broker and never filled", ref)

    def _adopt(self, order_id: str, legs: list[WorkingOrder], at: datetime) -> None:
        """One of our combos found working (after a restart): followed; its net walks once quotes come in, and
        goes to market in the last call like any close of ours."""
        units = max(min(order.quantity for order in legs), 1)
        ratios = [max(order.quantity // units, 1) for order in legs]
        first = legs[0].contract
        ref = legs[0].order_ref or ""
        self.state.sequence[first] = max(self.state.sequence.get(first, 0), ref_sequence(ref))
        positions = {p.contract: p for p in self.state.book.effective_positions()}
        combo = OwnCombo(order_id, ref, "adopted combo " + ref, [
            ComboLegState(order.contract, order.side, ratio, None, None, None,
                          avg_cost=positions[order.contract].avg_cost if order.contract in positions else 0.0)
            for order, ratio in zip(legs, ratios, strict=True)], units, legs[0].limit_price, 0, at,
            "adopted", "adopted after restart", final=legs[0].order_type is OrderType.MARKET, used=1)
        self.book.working[order_id] = combo
        log.warning("adopted working combo %s (%s) found at the broker", ref, order_id)
