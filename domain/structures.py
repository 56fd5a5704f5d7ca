"""Multi-leg structures: the expiring positions of one underlying grouped as a trader built them.

A long option protects a short one of the same right only while both live: sell the long 595C of a
595/600 call spread and the short 600C is naked, assigned on any after-hours move above 600. So the
policy judges each short leg together with the longs that cover it (``Structure.partners``), and at
expiration what matters is the net delivery of shares at each settlement price (``delivery``).

Grouping is done from the positions alone (and the shares held, for covered calls and puts):

1. Verticals, per right: each short is matched to the long of the same right and expiry nearest in
   strike (on a tie, the one that covers it fully: a lower call strike, a higher put strike), as many
   contracts as both have; what is left of either goes on to the next step.
2. Two verticals of one right sharing the short strike, with equal wings in quantity: a butterfly.
   A put vertical and a call vertical of equal quantity, the put strikes at or below the call
   strikes: an iron condor.
3. Unmatched options of the same sign, a call and a put of equal quantity: a straddle (one strike) or
   a strangle.
4. Unmatched short calls covered by shares held (short puts by shares sold short), 100 per contract:
   covered.
5. Everything else: single.

Ambiguity is resolved conservatively: a long matched to a short is never free to be sold on its
own while the short is open, and a short is never taken as covered by a long of another right or
expiry. Only the verticals' matching constrains the closing rules; the names of steps 2-4 are for
people reading the assessment.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache, partial

from domain.model import SHARES_PER_CONTRACT, OptionContract, Position, Right
from domain.settlement import EXERCISE_THRESHOLD, intrinsic


class StructureKind(StrEnum):
    SINGLE = "single"
    VERTICAL = "vertical"
    BUTTERFLY = "butterfly"
    IRON_CONDOR = "iron condor"
    STRADDLE = "straddle"
    STRANGLE = "strangle"
    COVERED = "covered"


@dataclass(frozen=True)
class Leg:
    contract: OptionContract
    quantity: int  # signed: this structure's part of the position

    @property
    def is_short(self) -> bool:
        return self.quantity < 0

    def delivery(self, settlement: float, multiplier: int = SHARES_PER_CONTRACT) -> int:
        """Shares this leg delivers into the account (negative: out of it) at this settlement price, when
        every option in the money by a cent is exercised or assigned."""
        contract = self.contract
        if intrinsic(contract.right, contract.strike, settlement) < EXERCISE_THRESHOLD:
            return 0
        per_contract = multiplier if contract.right is Right.CALL else -multiplier
        return self.quantity * per_contract


@dataclass(frozen=True)
class DeliveryBand:
    """The net delivery for every settlement price from ``low`` (None: below every strike) to ``high``."""

    low: float | None
    high: float | None
    shares: int

    def text(self) -> str:
        if self.low is None:
            where = f"below {self.high:g}"
        elif self.high is None:
            where = f"above {self.low:g}"
        else:
            where = f"{self.low:g}-{self.high:g}"
        return f"{where}: {self.shares:+d}"


@dataclass(frozen=True)
class Structure:
    kind: StructureKind
    legs: tuple[Leg, ...]  # sorted by right, then strike
    shares: int = 0  # shares of the underlying counted in it (a covered call's stock); signed

    @property
    def symbol(self) -> str:
        return self.legs[0].contract.symbol

    @property
    def expiry(self) -> date:
        return self.legs[0].contract.expiry

    @property
    def contracts(self) -> tuple[OptionContract, ...]:
        return tuple(leg.contract for leg in self.legs)

    @property
    def is_multi_leg(self) -> bool:
        return len(self.legs) > 1

    @property
    def name(self) -> str:
        """e.g. ``vertical SPY 20261127 +5 595C / -5 600C``: stable, and the key of the structure."""
        legs = " / ".join(f"{leg.quantity:+d} {leg.contract.strike:g}{leg.contract.right.value}" for leg in self.legs)
        covered = f" + {self.shares:+d} shares" if self.shares else ""
        return f"{self.kind.value} {self.symbol} {self.expiry:%Y%m%d} {legs}{covered}"

    def partners(self, contract: OptionContract) -> tuple[OptionContract, ...]:
        """The legs of the other sign and the same right: a long's partners are the shorts it covers, a
        short's the longs covering it. Empty for legs of straddles, strangles and singles."""
        mine = next((leg for leg in self.legs if leg.contract == contract), None)
        if mine is None:
            return ()
        return tuple(leg.contract for leg in self.legs if leg.contract.right is contract.right
                     and leg.is_short != mine.is_short)

    def delivery(self, settlement: float) -> int:
        """Net shares delivered by the options at this settlement price (the shares held not included)."""
        return sum(leg.delivery(settlement) for leg in self.legs)

    def delivery_profile(self) -> tuple[DeliveryBand, ...]:
        """The net delivery between consecutive strikes, merged where it does not change.

        An option is exercised from a cent in the money, so at a strike itself nothing of it is
        delivered; a band's figure holds strictly between its bounds.
        """
        return _profile(self)

    def delivery_between(self, low: float, high: float) -> tuple[int, int]:
        """The least and the most net delivery for any settlement price from ``low`` to ``high``."""
        probes = [low, high, *(s + d for s in {leg.contract.strike for leg in self.legs} if low <= s <= high
                               for d in (-EXERCISE_THRESHOLD, EXERCISE_THRESHOLD) if low <= s + d <= high)]
        figures = [self.delivery(price) for price in probes]
        return min(figures), max(figures)


@lru_cache(maxsize=1024)
def _profile(structure: Structure) -> tuple[DeliveryBand, ...]:
    """``Structure.delivery_profile``, computed once per structure: the policy asks for it every pass."""
    strikes = sorted({leg.contract.strike for leg in structure.legs})
    bounds: list[float | None] = [None, *strikes, None]
    bands: list[DeliveryBand] = []
    for low, high in zip(bounds, bounds[1:], strict=False):
        shares = structure.delivery(_inside(low, high))
        if bands and bands[-1].shares == shares:
            bands[-1] = DeliveryBand(bands[-1].low, high, shares)
        else:
            bands.append(DeliveryBand(low, high, shares))
    return tuple(bands)


def _inside(low: float | None, high: float | None) -> float:
    if low is None and high is None:
        return 1.0
    if low is None:
        assert high is not None
        return high / 2
    if high is None:
        return low * 2
    return (low + high) / 2


def group_structures(positions: Iterable[Position], shares: Mapping[str, int] | None = None) -> tuple[Structure, ...]:
    """Every open option position in exactly one structure, its quantity split between structures where a
    part of it is matched (the sum of a contract's legs is its position). Deterministic for any order of
    ``positions``; ``shares`` is the stock held per symbol (negative: short)."""
    by_group: dict[tuple[str, date], dict[OptionContract, int]] = defaultdict(lambda: defaultdict(int))
    for position in positions:
        if position.quantity:
            by_group[(position.contract.symbol, position.contract.expiry)][position.contract] += position.quantity
    held = dict(shares or {})
    structures: list[Structure] = []
    for (symbol, _), quantities in sorted(by_group.items()):
        remaining = {contract: qty for contract, qty in quantities.items() if qty}
        verticals = [vertical for right in (Right.PUT, Right.CALL) for vertical in _match_verticals(remaining, right)]
        structures += _combine_verticals(verticals)
        structures += _pair_unmatched(remaining, held, symbol)
    return tuple(sorted(structures, key=lambda s: (s.symbol, s.expiry, _sort_key(s.legs[0]), s.name)))


def _sort_key(leg: Leg) -> tuple[str, float, int]:
    return (leg.contract.right.value, leg.contract.strike, leg.quantity)


def _legs(*legs: Leg) -> tuple[Leg, ...]:
    return tuple(sorted(legs, key=_sort_key))


def _match_verticals(remaining: dict[OptionContract, int], right: Right) -> list[Structure]:
    """Step 1: shorts matched to the nearest long of the same right; ``remaining`` keeps what is unmatched."""
    shorts = sorted((c for c, q in remaining.items() if q < 0 and c.right is right), key=lambda c: c.strike)
    verticals: list[Structure] = []
    for short in shorts:
        while remaining.get(short, 0) < 0:
            longs = [c for c, q in remaining.items() if q > 0 and c.right is right]
            if not longs:
                break
            best = min(longs, key=partial(_nearness, short))
            quantity = min(-remaining[short], remaining[best])
            remaining[short] += quantity
            remaining[best] -= quantity
            verticals.append(Structure(StructureKind.VERTICAL, _legs(Leg(best, quantity), Leg(short, -quantity))))
    for contract in [c for c, q in remaining.items() if q == 0]:
        del remaining[contract]
    return verticals


def _nearness(short: OptionContract, long: OptionContract) -> tuple[float, bool]:
    return abs(long.strike - short.strike), not _covers(long, short)


def _covers(long: OptionContract, short: OptionContract) -> bool:
    """A long that is in the money whenever the short is: a lower call strike, a higher put strike."""
    return long.strike <= short.strike if short.right is Right.CALL else long.strike >= short.strike


def _combine_verticals(verticals: list[Structure]) -> list[Structure]:
    """Step 2: butterflies (one right, a shared short strike, equal wings), then iron condors."""
    left = list(verticals)
    combined: list[Structure] = []
    for first in list(left):
        if first not in left:
            continue
        mate = next((other for other in left if other is not first and _butterfly_wings(first, other)), None)
        if mate is not None:
            left.remove(first)
            left.remove(mate)
            combined.append(_merge(StructureKind.BUTTERFLY, first, mate))
    puts = [v for v in left if v.legs[0].contract.right is Right.PUT]
    calls = [v for v in left if v.legs[0].contract.right is Right.CALL]
    for put in puts:
        call = next((c for c in calls if _condor_sides(put, c)), None)
        if call is None:
            combined.append(put)
            continue
        calls.remove(call)
        combined.append(_merge(StructureKind.IRON_CONDOR, put, call))
    return combined + calls


def _short(vertical: Structure) -> Leg:
    return next(leg for leg in vertical.legs if leg.is_short)


def _long(vertical: Structure) -> Leg:
    return next(leg for leg in vertical.legs if not leg.is_short)


def _butterfly_wings(a: Structure, b: Structure) -> bool:
    if a.legs[0].contract.right is not b.legs[0].contract.right or _short(a).contract != _short(b).contract:
        return False
    wing_a, wing_b, body = _long(a).contract.strike, _long(b).contract.strike, _short(a).contract.strike
    return _long(a).quantity == _long(b).quantity and min(wing_a, wing_b) < body < max(wing_a, wing_b)


def _condor_sides(put: Structure, call: Structure) -> bool:
    put_strikes = [leg.contract.strike for leg in put.legs]
    call_strikes = [leg.contract.strike for leg in call.legs]
    short_put_is_inner = _short(put).contract.strike > _long(put).contract.strike
    short_call_is_inner = _short(call).contract.strike < _long(call).contract.strike
    return (_long(put).quantity == _long(call).quantity and short_put_is_inner and short_call_is_inner
            and max(put_strikes) <= min(call_strikes))


def _merge(kind: StructureKind, a: Structure, b: Structure) -> Structure:
    totals: dict[OptionContract, int] = defaultdict(int)
    for leg in (*a.legs, *b.legs):
        totals[leg.contract] += leg.quantity
    return Structure(kind, _legs(*(Leg(c, q) for c, q in totals.items())))


def _pair_unmatched(remaining: dict[OptionContract, int], held: dict[str, int], symbol: str) -> list[Structure]:
    """Steps 3-5 on what the verticals left: straddles and strangles, covered shorts, singles."""
    structures: list[Structure] = []
    calls = sorted((c for c in remaining if c.right is Right.CALL), key=lambda c: c.strike)
    puts = sorted((c for c in remaining if c.right is Right.PUT), key=lambda c: c.strike)
    for call in calls:
        put = next((p for p in puts if remaining[p] == remaining[call]), None)
        if put is None:
            continue
        puts.remove(put)
        kind = StructureKind.STRADDLE if put.strike == call.strike else StructureKind.STRANGLE
        structures.append(Structure(kind, _legs(Leg(put, remaining[put]), Leg(call, remaining[call]))))
        del remaining[call], remaining[put]
    for contract in sorted(remaining, key=lambda c: (c.right.value, c.strike)):
        quantity = remaining[contract]
        covering = _covering_shares(contract, quantity, held.get(symbol, 0))
        if covering:
            held[symbol] = held.get(symbol, 0) - covering
            structures.append(Structure(StructureKind.COVERED, (Leg(contract, quantity),), shares=covering))
        else:
            structures.append(Structure(StructureKind.SINGLE, (Leg(contract, quantity),)))
    return structures


def _covering_shares(contract: OptionContract, quantity: int, held: int) -> int:
    """The shares that cover a short fully (a call by shares held, a put by shares sold short), else 0."""
    if quantity >= 0:
        return 0
    needed = -quantity * SHARES_PER_CONTRACT
    if contract.right is Right.CALL and held >= needed:
        return needed
    if contract.right is Right.PUT and held <= -needed:
        return -needed
    return 0


def protected_shorts(contract: OptionContract, positions: Iterable[Position]) -> tuple[OptionContract, ...]:
    """The open shorts a long ``contract`` covers in its structures: selling it alone would leave them naked."""
    return tuple(partner for structure in group_structures(positions) for leg in structure.legs
                 if leg.contract == contract and leg.quantity > 0 for partner in structure.partners(contract))
