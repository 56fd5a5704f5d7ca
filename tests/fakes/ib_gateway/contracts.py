"""The fake gateway's instruments: SPY and SPY options, with the conIds the gateway hands out."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

SPY_CON_ID = 756733  # SPY's real conId; options get ids from a counter
_option_ids = itertools.count(700_000_001)


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
    def stock(cls, symbol: str = "SPY", con_id: int = SPY_CON_ID) -> FakeContract:
        return cls(symbol, "STK", con_id=con_id, multiplier="")

    @classmethod
    def option(cls, key: str, con_id: int | None = None) -> FakeContract:
        """From the project's contract key, e.g. ``SPY 20261127 635C``."""
        symbol, expiry, strike_right = key.split()
        return cls(symbol, "OPT", expiry, float(strike_right[:-1]), strike_right[-1],
                   con_id if con_id is not None else next(_option_ids))

    @property
    def key(self) -> str:
        """Same spelling as ``domain.model.OptionContract.key`` so tests can use one name."""
        if self.sec_type != "OPT":
            return self.symbol
        return f"{self.symbol} {self.expiry} {self.strike:g}{self.right}"

    @property
    def local_symbol(self) -> str:
        if self.sec_type != "OPT":
            return self.symbol
        return f"{self.symbol:<6}{self.expiry[2:]}{self.right}{round(self.strike * 1000):08d}"

    @property
    def trading_class(self) -> str:
        return self.symbol

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
