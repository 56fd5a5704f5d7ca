"""ThetaData as a gateways.prices.PriceSource: SPY's quote, and the held contracts' quotes with their IV.

Option quotes come from one bulk request per expiration (one request however many contracts are
held); implied volatility from one more bulk request, merged in. IV is a refinement: when only it
fails (say the subscription does not cover greeks), the quotes are still returned, without IV.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING

from domain.feed_errors import FeedError
from domain.model import OptionContract, Quote
from gateways.thetadata.client import TerminalClient, connect

if TYPE_CHECKING:
    from config.schema import Settings


class ThetaDataPriceSource:
    name = "thetadata"

    def __init__(self, client: TerminalClient, *, with_implied_vol: bool = True) -> None:
        self.client = client
        self.with_implied_vol = with_implied_vol

    @classmethod
    def from_settings(cls, settings: Settings) -> ThetaDataPriceSource:
        """From ``thetadata_url`` (v2 or v3 by its path) and ``thetadata_timeout_seconds``."""
        return cls(connect(settings.thetadata_url, settings.thetadata_timeout_seconds))

    def underlying_quote(self, symbol: str) -> Quote:
        return self.client.stock_quote(symbol)

    def option_quotes(self, contracts: Sequence[OptionContract]) -> Mapping[str, Quote]:
        """Quotes of the requested contracts that the Terminal has; a contract it lacks is absent."""
        groups: dict[tuple[str, date], set[str]] = defaultdict(set)
        for contract in contracts:
            groups[(contract.symbol, contract.expiry)].add(contract.key)
        found: dict[str, Quote] = {}
        for (symbol, expiry), keys in groups.items():
            quotes = self.client.option_quotes(symbol, expiry)
            wanted = {key: quote for key, quote in quotes.items() if key in keys}
            found.update(self._with_implied_vols(symbol, expiry, wanted))
        return found

    def close(self) -> None:
        self.client.close()

    def _with_implied_vols(self, symbol: str, expiry: date, quotes: dict[str, Quote]) -> dict[str, Quote]:
        if not self.with_implied_vol or not quotes:
            return quotes
        try:
            vols = self.client.implied_vols(symbol, expiry)
        except FeedError:
            return quotes  # logged once by the client; the quotes themselves came, so the poll did not fail
        return {key: replace(quote, implied_vol=vols[key]) if key in vols else quote
                for key, quote in quotes.items()}
