"""Early assignment for the dividend: the short calls a holder is likely to exercise the session before an ex-date.

Equity and ETF options (SPY) are American-style: a holder may exercise any day. Whoever holds the shares
when the market opens on the ex-date is paid the dividend, so a call holder exercises on the session
before it when the dividend is worth more than what exercising gives up: the option's time value (its
price minus its intrinsic value; the intrinsic value is kept either way). The writer of such a call is
assigned that night, whatever the call's expiry, and opens the ex-date short the shares and owing the
dividend. Cash-settled index options deliver no shares (``domain.underlyings``): never at this risk.

Pure: the schedule of ex-dates, and the rule for one position at one price.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from domain.model import Position, Right
from domain.settlement import Outcome, intrinsic
from domain.underlyings import is_cash_settled


@dataclass(frozen=True)
class Dividend:
    symbol: str
    ex_date: date
    amount: float  # dollars per share

    def describe(self) -> str:
        return f"{self.symbol} goes ex-dividend {self.ex_date.isoformat()} (${self.amount:.2f} a share)"


@dataclass(frozen=True)
class DividendSchedule:
    """The known ex-dates, by symbol (upper case). An entry for a symbol and date replaces an earlier one."""

    dividends: tuple[Dividend, ...] = ()

    @classmethod
    def of(cls, dividends: Iterable[Dividend]) -> DividendSchedule:
        latest = {(d.symbol.upper(), d.ex_date): Dividend(d.symbol.upper(), d.ex_date, d.amount) for d in dividends}
        return cls(tuple(sorted(latest.values(), key=lambda d: (d.ex_date, d.symbol))))

    def merged(self, overrides: Iterable[Dividend]) -> DividendSchedule:
        return DividendSchedule.of((*self.dividends, *overrides))

    def going_ex(self, after: date, through: date) -> tuple[Dividend, ...]:
        """The dividends whose ex-date is after ``after`` and on or before ``through``: with ``after`` a session
        and ``through`` the next one, those a holder must exercise on ``after`` to be paid (an ex-date entered on
        a weekend or holiday counts for the session before it, which is when the exercise must happen)."""
        return tuple(d for d in self.dividends if after < d.ex_date <= through)


@dataclass(frozen=True)
class EarlyAssignmentRisk:
    dividend: Dividend
    option_mid: float
    intrinsic: float

    @property
    def time_value(self) -> float:
        """What the holder gives up by exercising: the option's price above its intrinsic value."""
        return _cents_exact(self.option_mid - self.intrinsic)

    def describe(self) -> str:
        return (f"{self.dividend.describe()}: time value {self.time_value:.2f} is below the dividend, "
                "early assignment likely tonight")


def time_value(right: Right, strike: float, spot: float, option_mid: float) -> float:
    return _cents_exact(option_mid - intrinsic(right, strike, spot))


def _cents_exact(value: float) -> float:
    """Prices are in cents: 41.90 - 40.00 is 1.90, equal to a 1.90 dividend, not 1.8999999999999986 below it."""
    return round(value, 6)


def early_assignment_risk(position: Position, spot: float, option_mid: float | None,
                          dividend: Dividend) -> EarlyAssignmentRisk | None:
    """The risk when, on the session before ``dividend``'s ex-date, this position is a short call on its symbol
    that is still alive on the ex-date, in the money, and worth less above its intrinsic value than the dividend;
    None otherwise, and when there is no option price to judge it by.

    A call expiring before the ex-date (today) is left to the expiration rules, which close it when it is
    in the money anyway."""
    contract = position.contract
    if (not position.is_short or contract.right is not Right.CALL or is_cash_settled(contract.symbol)
            or contract.symbol.upper() != dividend.symbol.upper() or contract.expiry < dividend.ex_date
            or option_mid is None):
        return None
    value = intrinsic(contract.right, contract.strike, spot)
    if value <= 0 or time_value(contract.right, contract.strike, spot, option_mid) >= dividend.amount:
        return None
    return EarlyAssignmentRisk(dividend, option_mid, value)


def first_risk(position: Position, spot: float, option_mid: float | None,
               dividends: Iterable[Dividend]) -> EarlyAssignmentRisk | None:
    """The position's risk from any of the dividends going ex next (one per symbol in practice)."""
    for dividend in dividends:
        risk = early_assignment_risk(position, spot, option_mid, dividend)
        if risk is not None:
            return risk
    return None


def outcome_tonight(position: Position, spot: float, option_mid: float | None,
                    dividends: Iterable[Dividend]) -> Outcome:
    """What becomes of a position that does not expire this session, by the next morning: assigned early when a
    holder exercises for a dividend going ex next (the simulated OCC, the simulator's what-if), else still open."""
    return Outcome.ASSIGNED if first_risk(position, spot, option_mid, dividends) is not None else Outcome.OPEN
