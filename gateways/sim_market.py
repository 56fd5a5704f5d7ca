"""The simulated market: SPY (and any other underlying given a script) on a scripted path plus a
seeded random walk, options at Black-Scholes; after the close, the script's after-hours move, reached
in even steps by the exercise cut-off (17:30 ET).

Spreads widen toward the close, as they do in the last minutes of an expiration day. A contract expiring
after the session keeps the time of the sessions to its expiry (weekdays, holidays ignored) and has value
after the close. Dividends are not in the price (no ex-date drop is simulated). Faults (feed outages) are
injected by the simulator.
"""

from __future__ import annotations

import bisect
import math
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from domain.clock import Clock
from domain.feed_errors import FeedError, FeedErrorKind
from domain.model import OptionContract, Quote
from domain.option_pricing import black_scholes
from domain.risk import TRADING_MINUTES_PER_YEAR
from domain.session import ExpirySession

SESSION_MINUTES = 390.0  # 09:30-16:00 ET


@dataclass(frozen=True)
class SpotScript:
    start: float
    vol: float = 0.12  # annualised, drives the random walk and option prices
    seed: int = 7
    path: tuple[tuple[datetime, float], ...] = ()  # anchors, linearly interpolated
    after_hours: float = 0.0  # dollars SPY moves between the close and 17:30 ET, evenly over the window


@dataclass(frozen=True)
class Spread:
    """Half-spread in dollars: a floor, a share of the price, and a widening factor near the close."""

    floor: float = 0.01
    share_of_price: float = 0.01
    widening: float = 2.0  # half-spread multiplies by up to 1 + widening at the close
    widening_minutes: float = 10.0

    def half(self, price: float, minutes_to_close: float) -> float:
        base = max(self.floor, self.share_of_price * price)
        return base * (1 + self.widening * math.exp(-max(minutes_to_close, 0) / self.widening_minutes))


class _SpotPath:
    """One underlying's price: its scripted anchors times a seeded random walk, second by second."""

    def __init__(self, script: SpotScript, session: ExpirySession, start: datetime) -> None:
        self.script, self.session, self.start = script, session, start
        self._noise = self._random_walk()
        self._anchors = sorted(script.path)

    def _random_walk(self) -> list[float]:
        """Cumulative noise per second from the start to the exercise cut-off, from the seed."""
        rng = random.Random(self.script.seed)
        seconds = int((self.session.exercise_cutoff - self.start).total_seconds()) + 2
        step = self.script.vol * math.sqrt(1 / (TRADING_MINUTES_PER_YEAR * 60))
        walk, level = [0.0], 0.0
        for _ in range(max(seconds, 1)):
            level += rng.gauss(0.0, step)
            walk.append(level)
        return walk

    def _base(self, at: datetime) -> float:
        if not self._anchors:
            return self.script.start
        times = [t for t, _ in self._anchors]
        index = bisect.bisect_right(times, at)
        if index == 0:
            first_time, first_price = self._anchors[0]
            return self.script.start + (first_price - self.script.start) * _fraction(self.start, first_time, at)
        if index == len(self._anchors):
            return self._anchors[-1][1]
        (t0, p0), (t1, p1) = self._anchors[index - 1], self._anchors[index]
        return p0 + (p1 - p0) * _fraction(t0, t1, at)

    def spot_at(self, at: datetime) -> float:
        trading_time = min(at, self.session.close)  # after the close only the after-hours move applies
        second = int(max((trading_time - self.start).total_seconds(), 0))
        noise = self._noise[min(second, len(self._noise) - 1)]
        price = self._base(trading_time) * math.exp(noise)
        if at > self.session.close:  # the after-hours move, spread evenly to the cut-off: strikes are crossed in time
            price += self.script.after_hours * _fraction(self.session.close, self.session.exercise_cutoff, at)
        return round(price, 2)


@dataclass
class SimulatedMarket:
    """Quotes ``symbol`` on ``script`` and every symbol of ``underlyings`` on its own script; any other
    symbol has no data (FeedError NO_DATA), as a real feed without it: never another symbol's path."""

    script: SpotScript
    session: ExpirySession
    clock: Clock
    start: datetime
    spread: Spread = field(default_factory=Spread)
    name: str = "sim"
    symbol: str = "SPY"
    underlyings: Mapping[str, SpotScript] = field(default_factory=dict)  # the other symbols' scripts

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._outage_until: datetime | None = None
        scripts = {**self.underlyings, self.symbol: self.script}
        self._paths = {symbol: _SpotPath(script, self.session, self.start) for symbol, script in scripts.items()}

    # --- the price paths -------------------------------------------------------------------------
    @property
    def symbols(self) -> frozenset[str]:
        """The underlyings this market has a script for."""
        return frozenset(self._paths)

    def spot_at(self, symbol: str, at: datetime) -> float:
        return self._path(symbol).spot_at(at)

    def spot_after_hours(self, symbol: str) -> float:
        return self.spot_at(symbol, self.session.exercise_cutoff)

    def minutes_to_close(self, at: datetime) -> float:
        return self.session.minutes_to_close(at)

    def minutes_to_expiry(self, contract: OptionContract, at: datetime) -> float:
        """Trading minutes left to the contract: to today's close, plus a session's for each weekday to its expiry."""
        later = _weekdays_after(self.session.day, contract.expiry)
        return max(self.minutes_to_close(at), 0.0) + later * SESSION_MINUTES

    def option_mid(self, contract: OptionContract, at: datetime) -> float:
        path = self._path(contract.symbol)
        value = black_scholes(path.spot_at(at), contract.strike, contract.right, path.script.vol,
                              self.minutes_to_expiry(contract, at))
        return max(round(value, 2), 0.01)

    def option_book(self, contract: OptionContract, at: datetime) -> tuple[float, float, float]:
        """(bid, mid, ask) of the contract at ``at``."""
        mid = self.option_mid(contract, at)
        half = self.spread.half(mid, self.minutes_to_close(at))
        return max(round(mid - half, 2), 0.0), mid, round(mid + half, 2)

    def _path(self, symbol: str) -> _SpotPath:
        path = self._paths.get(symbol)
        if path is None:
            raise FeedError(FeedErrorKind.NO_DATA, f"the simulated market has no price script for {symbol}")
        return path

    # --- PriceSource -----------------------------------------------------------------------------
    def underlying_quote(self, symbol: str) -> Quote:
        now = self.clock.now()
        self._check_outage(now)
        price = self.spot_at(symbol, now)
        return Quote(symbol, price - 0.01, price + 0.01, price, now, self.name)

    def option_quotes(self, contracts: Sequence[OptionContract]) -> Mapping[str, Quote]:
        """Quotes of the contracts on scripted underlyings; one on any other is absent (no data for it)."""
        now = self.clock.now()
        self._check_outage(now)
        quotes = {}
        for contract in contracts:
            if contract.symbol not in self._paths:
                continue
            bid, mid, ask = self.option_book(contract, now)
            vol = self._paths[contract.symbol].script.vol
            quotes[contract.key] = Quote(contract.key, bid, ask, mid, now, self.name, implied_vol=vol)
        return quotes

    # --- faults ----------------------------------------------------------------------------------
    def outage(self, seconds: float) -> None:
        with self._lock:
            self._outage_until = self.clock.now() + timedelta(seconds=seconds)

    def _check_outage(self, now: datetime) -> None:
        with self._lock:
            if self._outage_until is not None and now < self._outage_until:
                raise FeedError(FeedErrorKind.OUTAGE, "simulated price feed outage")


def _weekdays_after(day: date, through: date) -> int:
    """Weekdays after ``day``, up to and including ``through``."""
    days = (through - day).days
    if days <= 0:
        return 0
    weeks, rest = divmod(days, 7)
    return weeks * 5 + sum(1 for i in range(1, rest + 1) if (day.weekday() + i) % 7 < 5)


def _fraction(start: datetime, end: datetime, at: datetime) -> float:
    span = (end - start).total_seconds()
    if span <= 0:
        return 1.0
    return min(max((at - start).total_seconds() / span, 0.0), 1.0)
