"""A person asked to close one position (ctl close, Telegram, the TUI): the policy's guards, as data.

The same guards as the policy's own closes: never more than is open and not already covered by
closing orders (closing never opens), and never a long that protects a short partner (sold alone it
would leave the short naked).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from domain.model import OptionContract, Position, Quote, WorkingOrder
from domain.policy import Close, closable_quantity
from domain.session import ExpirySession
from domain.stages import Thresholds
from domain.structures import protected_shorts


def manual_close(contract: OptionContract, positions: Sequence[Position], orders: Sequence[WorkingOrder],
                 option_quotes: Mapping[str, Quote], now: datetime, session: ExpirySession, thresholds: Thresholds,
                 max_option_quote_age_seconds: float) -> Close | str:
    """The close to send, or why not (one line for the person who asked)."""
    position = next((p for p in positions if p.contract == contract and p.quantity), None)
    if position is None:
        return f"no open position in {contract.key}"
    shorts = protected_shorts(contract, positions)
    if shorts:
        return (f"{contract.key} protects the short {', '.join(c.key for c in shorts)}: sold alone it would leave "
                "the short naked; close the short leg first, then this one")
    quantity = closable_quantity(position, orders)
    if quantity <= 0:
        return f"{contract.key}: closing orders already cover the position"
    quote = option_quotes.get(contract.key)
    fresh = quote if quote is not None and quote.age_seconds(now) <= max_option_quote_age_seconds else None
    return Close(contract, position.closing_side, quantity, session.stage(now, thresholds), "manual close requested",
                 fresh.mid if fresh else None, fresh.bid if fresh else None, fresh.ask if fresh else None, manual=True)
