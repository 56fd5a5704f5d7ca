"""Plain value types shared by every layer: contracts, positions, quotes, working orders.

All are frozen dataclasses so they can cross actor boundaries without copies or locks.
Datetimes are always timezone-aware.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class Right(StrEnum):
    CALL = "C"
    PUT = "P"

    @classmethod
    def parse(cls, text: str) -> Right:
        """Accept the spellings brokers, the seed and scenario files use: C/P, CALL/PUT."""
        normalized = text.strip().upper()
        if normalized in ("C", "CALL"):
            return cls.CALL
        if normalized in ("P", "PUT"):
            return cls.PUT
        raise ValueError(f"option right must be C, P, CALL or PUT, got {text!r}")


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    def signed(self, quantity: int) -> int:
        """The change a fill of ``quantity`` makes to a position: buying adds, selling takes away."""
        return quantity if self is Side.BUY else -quantity


class OrderType(StrEnum):
    """IB's names for the order types the service recognises; anything else is ``OTHER``."""

    LIMIT = "LMT"
    MARKET = "MKT"
    STOP = "STP"
    STOP_LIMIT = "STP LMT"
    TRAILING_STOP = "TRAIL"
    TRAILING_STOP_LIMIT = "TRAIL LIMIT"
    # MIT, LIT, REL, MOC, pegged...: a resting order of the trader's, never read as a plain limit
    OTHER = "OTHER"

    @property
    def is_stop(self) -> bool:
        """A protective stop: it waits for a trigger, and at T-2 becomes a market order."""
        return self in _STOPS


_STOPS = frozenset({OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP, OrderType.TRAILING_STOP_LIMIT})

# SYMBOL YYYYMMDD STRIKE RIGHT: the date may have dashes, the right may stand apart from the strike.
_CONTRACT_KEY = re.compile(r"([A-Za-z][A-Za-z0-9.]*)\s+(\d{4})-?(\d{2})-?(\d{2})\s+(\d+(?:\.\d+)?)\s*([CPcp])")


@dataclass(frozen=True)
class OptionContract:
    symbol: str
    right: Right
    strike: float
    expiry: date
    # The broker's id is learned late (after qualification) and must not change identity.
    con_id: int | None = field(default=None, compare=False, hash=False)

    @functools.cached_property
    def key(self) -> str:
        """Stable human-readable identity, e.g. ``SPY 20261127 635C``; used in logs and order refs.

        Cached (the fields are frozen): the policy and the actors ask it of every position on every tick."""
        strike = f"{self.strike:g}"
        return f"{self.symbol} {self.expiry:%Y%m%d} {strike}{self.right.value}"

    @classmethod
    def parse_key(cls, key: str) -> OptionContract:
        """Inverse of :attr:`key`; also accepts ``SPY 2026-11-27 635 C``-style spacing.

        The strike is plain decimal digits and above zero: a sign, ``nan``, ``inf`` or an exponent
        (``1e400`` is infinity to ``float``) is not a strike anyone means.
        """
        match = _CONTRACT_KEY.fullmatch(key.strip())
        if match is None:
            raise ValueError(f"contract must look like 'SPY 20261127 635C', got {key!r}")
        symbol, year, month, day, strike_text, right = match.groups()
        try:
            expiry = date(int(year), int(month), int(day))
        except ValueError as error:
            raise ValueError(f"contract {key!r}: {year}-{month}-{day} is not a date") from error
        strike = float(strike_text)
        if strike <= 0:
            raise ValueError(f"contract {key!r}: the strike must be above 0")
        return cls(symbol.upper(), Right.parse(right), strike, expiry)

    def __str__(self) -> str:
        return self.key


# Shares one US equity/ETF option contract delivers (and the price multiplier of its premium).
SHARES_PER_CONTRACT = 100


@dataclass(frozen=True)
class Position:
    contract: OptionContract
    quantity: int  # signed: positive long, negative short
    avg_cost: float = 0.0  # per share, as brokers report option cost / multiplier
    multiplier: int = SHARES_PER_CONTRACT

    @property
    def closing_side(self) -> Side:
        return Side.SELL if self.quantity > 0 else Side.BUY

    @property
    def is_short(self) -> bool:
        return self.quantity < 0


@dataclass(frozen=True)
class StockPosition:
    """Shares held in one underlying: the trader's own, or what an exercise or assignment delivered."""

    symbol: str
    shares: int  # signed: positive long, negative short
    avg_cost: float = 0.0  # per share

    @property
    def closing_side(self) -> Side:
        return Side.SELL if self.shares > 0 else Side.BUY


@dataclass(frozen=True)
class Quote:
    """A price for one instrument: ``instrument`` is the underlying symbol or a contract key."""

    instrument: str
    bid: float | None
    ask: float | None
    last: float | None
    at: datetime
    source: str
    implied_vol: float | None = None

    @property
    def mid(self) -> float | None:
        if self.bid is not None and self.ask is not None and self.bid > 0 and self.ask >= self.bid:
            return (self.bid + self.ask) / 2
        return self.last

    def age_seconds(self, now: datetime) -> float:
        return (now - self.at).total_seconds()


@dataclass(frozen=True)
class WorkingOrder:
    order_id: str
    contract: OptionContract
    side: Side
    order_type: OrderType
    quantity: int  # total, unsigned
    filled: int = 0
    limit_price: float | None = None
    stop_price: float | None = None
    order_ref: str | None = None
    broker_type: str = ""  # the broker's own name for the type, e.g. "MIT" when order_type is OTHER
    client_id: int | None = None  # the API client that placed it; 0 is TWS (orders placed by hand)
    perm_id: int | None = None  # IB's account-wide id; order ids are only unique per client
    # False: the broker will not let this service modify or cancel it (placed by TWS without binding, or by
    # another API client, our own orders of an earlier client id included). It still covers the position.
    modifiable: bool = True
    owner: str = ""  # who placed it, for alerts: "TWS", "API client 23", ...
    # One leg of a combo order (IB's BAG), listed once per leg under the combo's order id: ``quantity`` and
    # ``filled`` are this leg's contracts, ``limit_price`` the combo's net. Changed only as the whole combo.
    combo: bool = False

    @property
    def remaining(self) -> int:
        return max(self.quantity - self.filled, 0)

    @property
    def is_stop(self) -> bool:
        return self.order_type.is_stop

    @property
    def identity(self) -> str:
        """Names the order across reads: IB's permId when known, else client and order id; a combo's legs share
        those, so each leg is named by its contract too."""
        leg = f" leg {self.contract.key}" if self.combo else ""
        if self.perm_id:
            return f"perm {self.perm_id}{leg}"
        return f"client {self.client_id} order {self.order_id}{leg}"


@dataclass(frozen=True)
class Execution:
    """One execution of one of our orders, as the broker reports it: the only record of what filled."""

    exec_id: str  # the broker's id of the execution: a repeat report of it is the same fill
    order_id: str
    order_ref: str | None
    contract: OptionContract
    side: Side
    quantity: int  # contracts in this execution
    price: float
    at: datetime  # when it executed, on the service's clock
    commission: float | None = None  # when the broker reported it with the execution
