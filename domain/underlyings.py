"""Which underlyings the service watches, and which it leaves alone because they settle in cash.

An equity or ETF option (SPY, QQQ, IWM...) that expires in the money delivers shares: exercise by
exception buys or sells 100 shares per contract, the risk this service exists to prevent. An index
option settles in cash at the index's settlement value: no shares change hands, there is no
overnight stock position to avoid, and its price is an index level, not a stock quote (IB quotes
it as an index, ThetaData under index endpoints). Such positions are not watched at all: never
judged, never traded, reported once. The roots are Cboe's and Nasdaq's cash-settled index options
(Cboe "Index options: cash settlement"; tastytrade's table of cash-settled index specifications).
"""

from __future__ import annotations

from collections.abc import Iterable

from domain.model import OptionContract

CASH_SETTLED_ROOTS = frozenset({
    "SPX", "SPXW",  # S&P 500 (monthly AM-settled, weeklies PM-settled)
    "XSP",  # Mini-S&P 500
    "NDX", "NDXP",  # Nasdaq-100
    "RUT", "RUTW", "MRUT",  # Russell 2000, Mini-Russell 2000
    "VIX", "VIXW",  # Cboe Volatility Index
    "DJX",  # Dow Jones Industrial Average / 100
    "OEX", "XEO",  # S&P 100 (American and European style)
})


def is_cash_settled(symbol: str) -> bool:
    return symbol.upper() in CASH_SETTLED_ROOTS


def watched_underlyings(primary: str, held: Iterable[OptionContract]) -> tuple[str, ...]:
    """The symbols to quote each tick: ``primary`` (shown in status and metrics) first, then the
    underlying of every held contract that delivers shares, in alphabetical order."""
    others = {c.symbol for c in held if not is_cash_settled(c.symbol)}
    return (primary, *sorted(others - {primary}))
