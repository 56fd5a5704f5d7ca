"""The fake gateway's instruments: a few underlyings (stocks and an index) and options on them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

# The underlyings the fake knows, with their real IB conIds, security type and listing exchange.
UNDERLYINGS: dict[str, tuple[int, str, str]] = {
    "SPY": (756733, "STK", "ARCA"),
    "QQQ": (320227571, "STK", "NASDAQ"),
    "IWM": (9579970, "STK", "ARCA"),
    "SPX": (416904, "IND", "CBOE"),
}
SPY_CON_ID = UNDERLYINGS["SPY"][0]
_option_ids = itertools.count(700_000_001)
# IB reports every combo (BAG) with this conId, its USD spread template, and right "?" / tradingClass "COMB"
# (openOrder and execDetails of BAG orders as recorded by IB API users, e.g. ib-ruby's OpenOrder fixture).
BAG_CON_ID = 28812380


@dataclass(frozen=True)
class FakeContract:
    symbol: str
    sec_type: str = "OPT"
    expiry: str = ""  # YYYYMMDD
    strike: float = 0.0
    right: str = ""  # C or P
    con_id: int = 0
    multiplier: str = "100"
    exchange: str = "SMART"
    currency: str = "USD"

    @classmethod
    def stock(cls, symbol: str = "SPY", con_id: int | None = None) -> FakeContract:
        return cls(symbol, "STK", con_id=con_id or UNDERLYINGS[symbol][0], multiplier="")

    @classmethod
    def index(cls, symbol: str = "SPX") -> FakeContract:
        con_id, _, exchange = UNDERLYINGS[symbol]
        return cls(symbol, "IND", con_id=con_id, multiplier="", exchange=exchange)

    @classmethod
    def underlying(cls, symbol: str) -> FakeContract:
        """The stock or index ``symbol`` names (one of ``UNDERLYINGS``)."""
        return cls.index(symbol) if UNDERLYINGS[symbol][1] == "IND" else cls.stock(symbol)

    @classmethod
    def option(cls, key: str, con_id: int | None = None) -> FakeContract:
        """From the project's contract key, e.g. ``SPY 20261127 635C``."""
        symbol, expiry, strike_right = key.split()
        return cls(symbol, "OPT", expiry, float(strike_right[:-1]), strike_right[-1],
                   con_id if con_id is not None else next(_option_ids))

    @classmethod
    def bag(cls, symbol: str) -> FakeContract:
        """A combo's own contract, as IB reports it back."""
        return cls(symbol, "BAG", right="?", con_id=BAG_CON_ID, multiplier="")

    @classmethod
    def from_key(cls, key: str) -> FakeContract:
        """An underlying by its symbol (``QQQ``), else an option by its key."""
        return cls.underlying(key) if key in UNDERLYINGS else cls.option(key)

    @property
    def key(self) -> str:
        """Same spelling as ``domain.model.OptionContract.key`` so tests can use one name."""
        if self.sec_type == "BAG":
            return f"{self.symbol} BAG"
        if self.sec_type != "OPT":
            return self.symbol
        return f"{self.symbol} {self.expiry} {self.strike:g}{self.right}"

    @property
    def local_symbol(self) -> str:
        if self.sec_type == "BAG":
            return str(self.con_id)
        if self.sec_type != "OPT":
            return self.symbol
        return f"{self.symbol:<6}{self.expiry[2:]}{self.right}{round(self.strike * 1000):08d}"

    @property
    def trading_class(self) -> str:
        return "COMB" if self.sec_type == "BAG" else self.symbol

    @property
    def under_con_id(self) -> int:
        """The conId of the underlying (IB's ``underConId``); 0 for an underlying itself."""
        return UNDERLYINGS[self.symbol][0] if self.sec_type == "OPT" and self.symbol in UNDERLYINGS else 0

    def matches(self, symbol: str, sec_type: str, expiry: str, strike: str, right: str, con_id: str) -> bool:
        """Does a request's contract description (as sent on the wire) name this contract?"""
        if con_id and con_id != "0":
            return int(con_id) == self.con_id
        if symbol.upper() != self.symbol or (sec_type or "OPT") != self.sec_type:
            return False
        if self.sec_type != "OPT":
            return True
        return (expiry[:8] == self.expiry and strike not in ("", "0", "0.0")
                and float(strike) == self.strike and right[:1].upper() == self.right)
