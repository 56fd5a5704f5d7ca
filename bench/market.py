"""One day's market as every policy sees it: SPY by the second and option books priced on demand.

Option books follow the simulated market of ``gateways/sim_market.py`` exactly (Black-Scholes mid at
the day's volatility, rounded to the cent, at least $0.01; the ``Spread`` half-spread around it) and
are cached per (contract, second), so the policies compared on a day share the work. Orders fill
against the book; what the service sees is the feed's quote, which for a contract of ``Day.stale``
stops updating for a stretch (its age grows, and the policy's freshness rules apply).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta

from bench.generator import SYMBOL, Day
from domain.model import OptionContract, Quote
from domain.option_pricing import black_scholes

SOURCE = "bench"


class DayMarket:
    def __init__(self, day: Day) -> None:
        self.day = day
        self._books: dict[tuple[OptionContract, int], tuple[float, float, float]] = {}
        self._close = day.session.close

    def now(self, seconds_before_close: int) -> datetime:
        return self._close - timedelta(seconds=seconds_before_close)

    def spot(self, seconds_before_close: int) -> float:
        return self.day.spot(seconds_before_close)

    def book(self, contract: OptionContract, seconds_before_close: int) -> tuple[float, float, float]:
        """(bid, mid, ask), as ``SimulatedMarket.option_book``."""
        cache_key = (contract, seconds_before_close)
        found = self._books.get(cache_key)
        if found is None:
            value = black_scholes(self.spot(seconds_before_close), contract.strike, contract.right, self.day.vol,
                                  seconds_before_close / 60)
            mid = max(round(value, 2), 0.01)
            half = self.day.spread.half(mid, seconds_before_close / 60)
            found = (max(round(mid - half, 2), 0.0), mid, round(mid + half, 2))
            self._books[cache_key] = found
        return found

    def option_quote(self, contract: OptionContract, seconds_before_close: int) -> Quote:
        """The feed's quote: the book of the last second the feed updated it."""
        seconds = seconds_before_close
        stretch = self.day.stale.get(contract)
        if stretch is not None and stretch[0] >= seconds >= stretch[1]:
            seconds = stretch[0]
        bid, mid, ask = self.book(contract, seconds)
        return Quote(contract.key, bid, ask, mid, self.now(seconds), SOURCE, implied_vol=self.day.vol)

    def spot_quote(self, seconds_before_close: int, now: datetime) -> Quote:
        price = self.spot(seconds_before_close)
        return Quote(SYMBOL, price - 0.01, price + 0.01, price, now, SOURCE)

    def option_quotes(self, contracts: Mapping[str, OptionContract], seconds_before_close: int) -> LazyQuotes:
        return LazyQuotes(self, contracts, seconds_before_close)


class LazyQuotes(Mapping[str, Quote]):
    """The PriceFeed's option quotes for held contracts, built only for the keys the policy reads."""

    def __init__(self, market: DayMarket, contracts: Mapping[str, OptionContract], seconds: int) -> None:
        self._market, self._contracts, self._seconds = market, contracts, seconds

    def __getitem__(self, key: str) -> Quote:
        return self._market.option_quote(self._contracts[key], self._seconds)

    def __iter__(self) -> Iterator[str]:
        return iter(self._contracts)

    def __len__(self) -> int:
        return len(self._contracts)
