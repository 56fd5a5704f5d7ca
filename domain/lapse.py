"""Lapse instructions (contrary intention) for long options still held at the close.

OCC exercises every long option a cent or more in the money at the close. A holder may tell the broker
not to: IB takes the instruction for long options on their last trading day until 16:30 ET, half an
hour after the regular close (taken here as half an hour after the session's close on early-close
days too, which IB does not document: the alert names the time so the trader can check). A short
option cannot be lapsed: its holder decides. Cash-settled index options deliver no shares and are
left alone.

``lapses_due`` is pure: the actor that settles the session calls it with the closing prices and sends
what it returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.model import OptionContract, Position
from domain.risk import calculate_moneyness
from domain.session import EASTERN, ExpirySession
from domain.settlement import EXERCISE_THRESHOLD, intrinsic
from domain.structures import group_structures
from domain.underlyings import is_cash_settled

LAPSE_WINDOW = timedelta(minutes=30)  # IB: contrary instructions until 16:30 ET for a 16:00 close


def lapse_cutoff(session: ExpirySession) -> datetime:
    return session.close + LAPSE_WINDOW


@dataclass(frozen=True)
class Lapse:
    contract: OptionContract
    quantity: int  # contracts to lapse, positive
    closing_price: float  # the underlying's price at the close the decision was made on

    @property
    def reason(self) -> str:
        moneyness = calculate_moneyness(self.closing_price, self.contract.strike, self.contract.right)
        return (f"long {self.contract.key} closed in the money ({self.contract.symbol} {self.closing_price:.2f}, "
                f"{moneyness:+.2%}) and was not sold: lapsed so it is not exercised into shares")


@dataclass(frozen=True)
class LapsePlan:
    due: tuple[Lapse, ...]  # to send now
    too_late: tuple[Lapse, ...]  # past the cut-off: they will be exercised unless the trader calls IB


def lapses_due(positions: Iterable[Position], closing_prices: Mapping[str, float], session: ExpirySession,
               now: datetime, already: Mapping[OptionContract, int]) -> LapsePlan:
    """Every long of today's expiry that closed in the money and is still held, less what ``already``
    says was lapsed; ``too_late`` instead of ``due`` once the cut-off has passed.

    A long leg whose short partner (``domain.structures``) also closed in the money is not lapsed: the
    short is assigned, and the long's exercise delivers the shares it takes (lapsed, the assignment
    would leave the account short the shares)."""
    positions = list(positions)
    covering = _covering_assigned_shorts(positions, closing_prices)
    wanted = []
    for position in positions:
        contract = position.contract
        price = closing_prices.get(contract.symbol)
        if position.quantity <= 0 or contract.expiry != session.day or is_cash_settled(contract.symbol) \
                or price is None:
            continue
        if intrinsic(contract.right, contract.strike, price) < EXERCISE_THRESHOLD:
            continue
        quantity = position.quantity - covering.get(contract, 0) - already.get(contract, 0)
        if quantity > 0:
            wanted.append(Lapse(contract, quantity, price))
    if now < lapse_cutoff(session):
        return LapsePlan(tuple(wanted), ())
    return LapsePlan((), tuple(wanted))


def _covering_assigned_shorts(positions: list[Position],
                              closing_prices: Mapping[str, float]) -> dict[OptionContract, int]:
    """Contracts of each long matched in a structure to a short that closed in the money."""
    covering: dict[OptionContract, int] = {}
    for structure in group_structures(positions):
        price = closing_prices.get(structure.symbol)
        if price is None:
            continue
        for leg in structure.legs:
            if leg.quantity <= 0:
                continue
            partners = [x for x in structure.legs if x.contract in structure.partners(leg.contract)]
            assigned = -sum(x.quantity for x in partners
                            if intrinsic(x.contract.right, x.contract.strike, price) >= EXERCISE_THRESHOLD)
            covering[leg.contract] = covering.get(leg.contract, 0) + min(leg.quantity, assigned)
    return covering


def cutoff_text(session: ExpirySession) -> str:
    return f"{lapse_cutoff(session).astimezone(EASTERN):%H:%M} ET"
