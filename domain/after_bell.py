"""The after-bell watch: what is likely to happen to each expiring position still open, from the close
to the holders' exercise cut-off (17:30 ET).

OCC exercises a long option by exception on its underlying's price at the close; a short one is
assigned when it is in the money at the close or when an after-hours move puts it there before
17:30 ET, because its holder may exercise until then (``domain.settlement.settle``, the one rule of
both). So the watch, on each look at the latest after-hours price:

1. **first report** (once, when the session is settled after the bell): every open expiring position
   with its moneyness at the close, the after-hours price, the likely outcome, and the net delivery
   of each multi-leg structure (``domain.structures``: legs that cover each other net out);
2. **crossing update**: when the after-hours price crosses the strike of a short still open, once
   per crossing. Into the money counts at a cent in (the exercise threshold); back out only once the
   price is out of the money by a tenth of the near-the-money band (``t2_moneyness``), so a price
   jittering around the strike is one update, not one a tick. A long's fate was decided at the
   close, so its strike does not trigger an update;
3. **final report** a minute before the cut-off (the service stops at 17:30 ET): each short in the
   money at the close or at the latest after-hours price flagged "EXPECT ASSIGNMENT", and the net
   shares expected at the next open per underlying.

Cash-settled index options deliver no shares: listed as such, never watched, never in a delivery.
Pure: the caller (the RiskAssessor) keeps the ``WatchState`` and sends what ``look`` returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from domain.model import OptionContract, Position, Quote
from domain.risk import calculate_moneyness
from domain.session import ExpirySession
from domain.settlement import EXERCISE_THRESHOLD, Outcome, PositionResult, delivered_shares, intrinsic, settle
from domain.structures import group_structures
from domain.underlyings import is_cash_settled

# The final report goes out this long before the cut-off: the service stops at 17:30 ET itself.
FINAL_LOOK_BEFORE_CUTOFF = timedelta(minutes=1)
# Out of the money by this share of the near-the-money band, a short crossed back out of it.
HYSTERESIS_SHARE_OF_BAND = 0.1


class Outlook(StrEnum):
    EXERCISE_LIKELY = "exercise likely"
    ASSIGNMENT_LIKELY = "assignment likely"
    EXPECT_ASSIGNMENT = "EXPECT ASSIGNMENT"  # the final report's word for "assignment likely"
    ASSIGNMENT_POSSIBLE = "assignment possible on an after-hours move"
    EXPIRES = "expires worthless likely"
    CASH_SETTLED = "settles in cash, not watched"
    NO_PRICE = "no price at the close"

    @property
    def at_risk(self) -> bool:
        return self not in (Outlook.EXPIRES, Outlook.CASH_SETTLED)


class ReportKind(StrEnum):
    FIRST = "first"
    CROSSING = "crossing"
    FINAL = "final"


@dataclass(frozen=True)
class WatchLine:
    """One open position as a report shows it."""

    contract: OptionContract
    quantity: int
    price_at_close: float | None
    moneyness_at_close: float | None
    after_hours: Quote | None  # the underlying's latest quote after the close
    outlook: Outlook

    @property
    def side(self) -> str:
        return "long" if self.quantity > 0 else "short"


@dataclass(frozen=True)
class Crossing:
    contract: OptionContract
    into_the_money: bool
    price: float  # the after-hours price that crossed the strike


@dataclass(frozen=True)
class StructureDelivery:
    name: str
    shares: int  # net, longs on the close, shorts on the close or the after-hours price


@dataclass(frozen=True)
class WatchReport:
    kind: ReportKind
    at: datetime
    lines: tuple[WatchLine, ...]
    structures: tuple[StructureDelivery, ...]
    delivery: Mapping[str, int]  # net shares expected at the next open, per underlying (non-zero only)
    crossings: tuple[Crossing, ...] = ()
    number: int = 0  # the crossing update's number this session (1, 2, ...)

    @property
    def expect_assignment(self) -> tuple[WatchLine, ...]:
        return tuple(line for line in self.lines if line.outlook is Outlook.EXPECT_ASSIGNMENT)


@dataclass(frozen=True)
class WatchState:
    """What was reported: kept by the caller, so a restarted actor neither repeats nor loses a report."""

    first_sent: bool = False
    final_sent: bool = False
    in_the_money: Mapping[str, bool] = field(default_factory=dict)  # each short's side at the last look
    crossings: int = 0  # crossing updates sent


@dataclass(frozen=True)
class WatchInput:
    positions: Sequence[Position]  # expiring today, still open
    closing_prices: Mapping[str, float]  # per underlying, as the session was settled on
    after_hours: Mapping[str, Quote]  # per underlying, its latest quote after the close
    band: float  # the near-the-money band (t2_moneyness), a fraction of the strike
    now: datetime
    session: ExpirySession
    updates: bool = True  # False: crossings are followed (each short's side kept current) but not reported


def final_look_at(session: ExpirySession) -> datetime:
    return session.exercise_cutoff - FINAL_LOOK_BEFORE_CUTOFF


def look(state: WatchState, watch: WatchInput) -> tuple[WatchState, tuple[WatchReport, ...]]:
    """One look at the open positions: the reports due now, and the state that remembers them."""
    if state.final_sent:
        return state, ()
    positions = [p for p in watch.positions if p.quantity]
    reports: list[WatchReport] = []
    sides, crossings = _crossings(state.in_the_money, positions, watch)
    state = replace(state, in_the_money=sides)
    if not state.first_sent:
        state = replace(state, first_sent=True)
        if positions:
            reports.append(_report(ReportKind.FIRST, positions, watch))
    elif crossings and watch.updates and watch.now < final_look_at(watch.session):
        state = replace(state, crossings=state.crossings + 1)
        reports.append(replace(_report(ReportKind.CROSSING, positions, watch), crossings=crossings,
                               number=state.crossings))
    if watch.now >= final_look_at(watch.session):
        state = replace(state, final_sent=True)
        if positions:
            reports.append(_report(ReportKind.FINAL, positions, watch))
    return state, tuple(reports)


def outlook(position: Position, price_at_close: float | None, after_hours: float | None, band: float,
            final: bool = False) -> Outlook:
    """The likely outcome: a long by the close alone; a short also by the after-hours price (``None``: none
    yet), and one out of the money by less than ``band`` can still be assigned until the final look."""
    contract = position.contract
    if is_cash_settled(contract.symbol):
        return Outlook.CASH_SETTLED
    if price_at_close is None:
        return Outlook.NO_PRICE
    latest = price_at_close if after_hours is None else after_hours
    outcome = settle(position, price_at_close, latest)
    if position.quantity > 0:
        return Outlook.EXERCISE_LIKELY if outcome is Outcome.EXERCISED else Outlook.EXPIRES
    if outcome is Outcome.ASSIGNED:
        return Outlook.EXPECT_ASSIGNMENT if final else Outlook.ASSIGNMENT_LIKELY
    near = calculate_moneyness(latest, contract.strike, contract.right) > -band
    return Outlook.ASSIGNMENT_POSSIBLE if near and not final else Outlook.EXPIRES


def _after_price(watch: WatchInput, symbol: str) -> float | None:
    quote = watch.after_hours.get(symbol)
    return quote.mid if quote is not None else None


def _crossings(sides: Mapping[str, bool], positions: Sequence[Position],
               watch: WatchInput) -> tuple[dict[str, bool], tuple[Crossing, ...]]:
    """Each short's side of its strike after this look, and the strikes crossed since the last one."""
    margin = watch.band * HYSTERESIS_SHARE_OF_BAND
    now: dict[str, bool] = {}
    crossed: list[Crossing] = []
    for position in positions:
        contract = position.contract
        if position.quantity > 0 or is_cash_settled(contract.symbol):
            continue
        key, price = contract.key, _after_price(watch, contract.symbol)
        was = sides.get(key)
        if price is None:
            if was is not None:
                now[key] = was
            continue
        in_the_money = intrinsic(contract.right, contract.strike, price) >= EXERCISE_THRESHOLD
        if was is None or was == in_the_money:
            now[key] = in_the_money
        elif in_the_money:
            now[key] = True
            crossed.append(Crossing(contract, True, price))
        elif calculate_moneyness(price, contract.strike, contract.right) < -margin:
            now[key] = False
            crossed.append(Crossing(contract, False, price))
        else:
            now[key] = True  # just out of the money: inside the hysteresis, still counted in
    return now, tuple(crossed)


def _report(kind: ReportKind, positions: Sequence[Position], watch: WatchInput) -> WatchReport:
    final = kind is ReportKind.FINAL
    lines = []
    for position in sorted(positions, key=lambda p: (p.contract.symbol, p.contract.right.value, p.contract.strike)):
        contract = position.contract
        close = watch.closing_prices.get(contract.symbol)
        moneyness = calculate_moneyness(close, contract.strike, contract.right) if close is not None else None
        after = None if is_cash_settled(contract.symbol) else watch.after_hours.get(contract.symbol)
        lines.append(WatchLine(contract, position.quantity, close, moneyness, after,
                               outlook(position, close, after.mid if after else None, watch.band, final)))
    delivering = [p for p in positions if _priced(p, watch)]
    structures = tuple(StructureDelivery(s.name, sum(_shares(Position(leg.contract, leg.quantity), watch)
                                                     for leg in s.legs))
                       for s in group_structures(delivering) if s.is_multi_leg)
    delivery: dict[str, int] = {}
    for position in delivering:
        symbol = position.contract.symbol
        delivery[symbol] = delivery.get(symbol, 0) + _shares(position, watch)
    return WatchReport(kind, watch.now, tuple(lines), structures,
                       {symbol: shares for symbol, shares in sorted(delivery.items()) if shares})


def _priced(position: Position, watch: WatchInput) -> bool:
    symbol = position.contract.symbol
    return not is_cash_settled(symbol) and symbol in watch.closing_prices


def _shares(position: Position, watch: WatchInput) -> int:
    """Shares the position delivers if it settles as things stand (a long on the close, a short on either)."""
    close = watch.closing_prices[position.contract.symbol]
    after = _after_price(watch, position.contract.symbol)
    outcome = settle(position, close, close if after is None else after)
    return delivered_shares(PositionResult(position, outcome, outcome), position.multiplier)
