"""The price-source interface the PriceFeed polls: the simulated market, ThetaData and IB implement it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Protocol

from domain.model import OptionContract, Quote


class FeedErrorKind(StrEnum):
    NO_DATA = "no_data"  # nothing quoted yet: not an outage
    OUTAGE = "outage"  # unreachable, disconnected upstream, timing out
    RATE_LIMITED = "rate_limited"
    PERMISSION = "permission"  # subscription lacks the data: operator must act
    MALFORMED = "malformed"


class FeedError(Exception):
    def __init__(self, kind: FeedErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class PriceSource(Protocol):
    @property
    def name(self) -> str: ...

    def underlying_quote(self, symbol: str) -> Quote:
        """The latest quote of the underlying; raises FeedError."""
        ...

    def option_quotes(self, contracts: Sequence[OptionContract]) -> Mapping[str, Quote]:
        """Latest quotes keyed by contract key (with implied volatility when known); raises FeedError."""
        ...
