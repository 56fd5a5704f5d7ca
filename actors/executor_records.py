"""The Executor's audit records: one builder for every kind."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from actors.context import ActorContext
from domain.audit import ActionKind, ActionRecord, action_id_for, new_action_id
from domain.model import OptionContract, WorkingOrder


class Records:
    def __init__(self, ctx: ActorContext, write: Callable[[ActionRecord], None]) -> None:
        self.ctx = ctx
        self.write = write

    def record(self, kind: ActionKind, at: datetime, contract: OptionContract, quantity: int | None, stage: str,
               reason: str, *, order: WorkingOrder | None = None, success: bool | None = None,
               error: str | None = None, price: float | None = None, reference_mid: float | None = None,
               slippage: float | None = None, pnl: float | None = None, assessment: Any = None,
               details: dict[str, Any] | None = None, identity: str | None = None) -> None:
        """``identity`` names what the record is about when it may be written twice (a fill's execId):
        the same identity gives the same action id, which the store keeps once."""
        self.write(ActionRecord(
            action_id_for(identity) if identity else new_action_id(), at, kind, symbol=contract.symbol,
            strike=contract.strike, expiry=contract.expiry, right=contract.right.value, quantity=quantity,
            account=self.ctx.account, mode=self.ctx.config.mode.value, stage=stage, reason=reason,
            moneyness=assessment.moneyness if assessment else None,
            risk_score=assessment.risk_score if assessment else None,
            probability_itm=assessment.probability_itm if assessment else None,
            order_ref=order.order_ref if order else None, order_id=order.order_id if order else None,
            execution_price=price, reference_mid=reference_mid, slippage=slippage, pnl_impact=pnl,
            success=success, error=error, details=details or {}))
