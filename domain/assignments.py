"""The next morning's check: what an expiration session's options left in the account, from its evening record.

An option of the evening record that is gone in the morning, with no closing fill after the record (the
record is taken after the close, when the closing fills are in), was exercised, assigned or expired. Its
underlying's price at the close says which: a cent or more in the money, exercised (long) or assigned (short);
otherwise expired worthless (a short one can still have been assigned on an after-hours move: its shares then
show in the stock). The stock that appeared is the change against the shares held at the close; of it, only what
the vanished options could have delivered is attributed to them (each vanished contract delivering all its
shares or none), so the trader's own shares are never counted, and never more than the change.

Exposure is the attributed shares at the closing price; the margin they take is Reg T's initial requirement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from domain.evening import EveningRecord
from domain.model import Position, StockPosition
from domain.settlement import EXERCISE_THRESHOLD, intrinsic, shares_per_contract

# Reg T initial margin, one rule for both sides: 50 % of the market value of long stock; short stock needs 150 %
# of its value in the account, of which the sale's proceeds are 100 %, so 50 % on top. A portfolio-margin account
# needs less, a concentrated one more: this is the number to compare with IB's, not IB's own.
REG_T_INITIAL_MARGIN = 0.50


class Fate(StrEnum):
    EXERCISED = "exercised"
    ASSIGNED = "assigned"
    EXPIRED = "expired worthless"
    UNKNOWN = "gone (no closing price to say why)"


@dataclass(frozen=True)
class VanishedOption:
    position: Position  # as the evening record held it
    contracts: int  # how many of them are gone (unsigned)
    fate: Fate
    closing_price: float | None

    @property
    def possible_delivery(self) -> int:
        """Signed shares these contracts deliver if every one was exercised or assigned."""
        return self.contracts * shares_per_contract(self.position)


@dataclass(frozen=True)
class Delivery:
    """Shares of one underlying the morning shows against the close, and what of it came from the options."""

    symbol: str
    shares_before: int
    shares_now: int
    attributed: int  # signed; same sign as the change and never larger
    price: float | None  # the underlying's price at the close
    avg_cost: float = 0.0  # the broker's average cost of the shares now held

    @property
    def change(self) -> int:
        return self.shares_now - self.shares_before

    @property
    def exposure(self) -> float | None:
        """Dollars: the attributed shares at the closing price (None without one)."""
        return abs(self.attributed) * self.price if self.price is not None else None

    @property
    def margin(self) -> float | None:
        exposure = self.exposure
        return exposure * REG_T_INITIAL_MARGIN if exposure is not None else None


@dataclass(frozen=True)
class MorningCheck:
    session_day: date
    vanished: tuple[VanishedOption, ...]
    deliveries: tuple[Delivery, ...]  # the underlyings with attributed shares
    still_held: tuple[Position, ...] = ()  # expiring options the morning still lists (IB not done yet)

    @property
    def exposure(self) -> float:
        return sum(d.exposure or 0.0 for d in self.deliveries)

    @property
    def margin(self) -> float:
        return sum(d.margin or 0.0 for d in self.deliveries)

    @property
    def unpriced(self) -> tuple[str, ...]:
        return tuple(d.symbol for d in self.deliveries if d.price is None)


def fate(position: Position, closing_price: float | None) -> Fate:
    if closing_price is None:
        return Fate.UNKNOWN
    contract = position.contract
    if intrinsic(contract.right, contract.strike, closing_price) < EXERCISE_THRESHOLD:
        return Fate.EXPIRED
    return Fate.EXERCISED if position.quantity > 0 else Fate.ASSIGNED


def attributable(change: int, vanished: Sequence[VanishedOption]) -> int:
    """The part of a stock change the vanished options can explain: the change held within what they could have
    delivered, each contract all or nothing (so between the sum of their negative and of their positive
    deliveries). Zero is within that range, so the result never exceeds the change nor has the other sign."""
    low = sum(min(v.possible_delivery, 0) for v in vanished)
    high = sum(max(v.possible_delivery, 0) for v in vanished)
    return max(low, min(change, high))


def detect(record: EveningRecord, options: Sequence[Position], stock: Sequence[StockPosition]) -> MorningCheck:
    """``options`` and ``stock``: the morning's positions, as the broker lists them."""
    now_held = {p.contract: p.quantity for p in options}
    vanished: list[VanishedOption] = []
    still: list[Position] = []
    for position in record.options:
        left = now_held.get(position.contract, 0)
        same_side = left != 0 and (left > 0) == (position.quantity > 0)
        gone = max(abs(position.quantity) - abs(left), 0) if same_side else abs(position.quantity)
        if same_side:
            still.append(Position(position.contract, left, position.avg_cost, position.multiplier))
        if gone > 0:
            price = record.closing_prices.get(position.contract.symbol)
            vanished.append(VanishedOption(position, gone, fate(position, price), price))
    before = record.stock_before()
    now = {s.symbol: s for s in stock if s.shares}
    deliveries: list[Delivery] = []
    for symbol in dict.fromkeys(v.position.contract.symbol for v in vanished):
        held_now = now[symbol].shares if symbol in now else 0
        change = held_now - before.get(symbol, 0)
        shares = attributable(change, [v for v in vanished if v.position.contract.symbol == symbol])
        if shares:
            deliveries.append(Delivery(symbol, before.get(symbol, 0), held_now, shares,
                                       record.closing_prices.get(symbol),
                                       now[symbol].avg_cost if symbol in now else 0.0))
    return MorningCheck(record.session_day, tuple(vanished), tuple(deliveries), tuple(still))
