"""What-if orders: IB never places them; it answers with the margin and commission the order would cost.

The answer is an openOrder whose whatIf flag is set and whose OrderState carries the margins
(before / change / after, as text, the way IB sends them) and the commission. ib_async completes
``whatIfOrderAsync`` only when initMarginChange is a number (wrapper.openOrder).
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.fakes.ib_gateway.contracts import FakeContract

# The fake account's margin before any what-if order (USD).
INIT_MARGIN = 42_000.0
MAINT_MARGIN = 36_000.0
EQUITY_WITH_LOAN = 250_000.0
STOCK_MARGIN_RATE = 0.25  # Reg T initial margin for a long stock position
SHORT_OPTION_MARGIN_RATE = 0.20  # of the underlying's notional, roughly IB's rule for a naked short option


@dataclass(frozen=True)
class WhatIfState:
    init_margin_before: float
    maint_margin_before: float
    equity_with_loan_before: float
    init_margin_change: float
    maint_margin_change: float
    equity_with_loan_change: float
    commission: float
    currency: str = "USD"

    def margin_fields(self) -> list[object]:
        """The nine margin fields of the OrderState, before / change / after, as IB sends them (text)."""
        before = [self.init_margin_before, self.maint_margin_before, self.equity_with_loan_before]
        change = [self.init_margin_change, self.maint_margin_change, self.equity_with_loan_change]
        after = [b + c for b, c in zip(before, change, strict=True)]
        return [f"{value:.2f}" for value in (*before, *change, *after)]


def what_if(contract: FakeContract, action: str, quantity: int, price: float, underlying_price: float,
            commission_per_contract: float) -> WhatIfState:
    """What an order of ``quantity`` at ``price`` would cost, plausibly (not IB's exact margin rules)."""
    if contract.sec_type == "OPT":
        multiplier = float(contract.multiplier or 100)
        notional = underlying_price * multiplier * quantity
        margin = SHORT_OPTION_MARGIN_RATE * notional if action == "SELL" else 0.0
        commission = commission_per_contract * quantity
        cash = -price * multiplier * quantity if action == "BUY" else 0.0
    else:
        margin = STOCK_MARGIN_RATE * price * quantity if action == "BUY" else 0.0
        commission = max(1.0, 0.005 * quantity)
        cash = 0.0
    return WhatIfState(INIT_MARGIN, MAINT_MARGIN, EQUITY_WITH_LOAN, round(margin, 2), round(margin * 0.85, 2),
                       round(cash - commission, 2), round(commission, 2))
