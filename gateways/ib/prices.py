"""IBPriceSource: quotes from IB market data, the fallback when ThetaData is down.

It shares the IBBroker's connection (one API client per process) and subscribes once per
instrument (streaming ticks cost no API messages; a subscription costs one). A quote carries the
time its ticker last updated (a tick arrived), not the time it was read: a frozen ticker ages and
goes stale under the same rule as any other source's, judged by the caller. The time is ib_async's
moment of ``Ticker.time`` (it stamps the ticker when a tick's data arrives), read from the injected
clock in the ticker's update event, so a virtual clock ages IB quotes too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime

from ib_async import Contract, Stock, Ticker

from domain.model import OptionContract, Quote
from gateways.broker import BrokerError
from gateways.ib import mapping
from gateways.ib.broker import IBBroker
from gateways.prices import FeedError, FeedErrorKind
from runtime.clock import Clock


def _price(value: float | None) -> float | None:
    """ib_async marks 'no price' as nan (or -1 for some ticks)."""
    if value is None or math.isnan(value) or value <= 0:
        return None
    return float(value)


class IBPriceSource:
    name = "ib"

    def __init__(self, broker: IBBroker, clock: Clock) -> None:
        self._broker = broker
        self._clock = clock
        # Touched on the loop thread only (ticks, and the hops this source makes while it waits):
        # instrument key -> live ticker, and when each ticker last ticked.
        self._tickers: dict[str, Ticker] = {}
        self._ticked_at: dict[Ticker, datetime] = {}
        self._session = -1  # the broker's market-data generation the tickers belong to

    def underlying_quote(self, symbol: str) -> Quote:
        return self._quotes([symbol], {symbol: None})[symbol]

    def option_quotes(self, contracts: Sequence[OptionContract]) -> Mapping[str, Quote]:
        keys = [c.key for c in contracts]
        return self._quotes(keys, {c.key: c for c in contracts}, allow_missing=True)

    def _quotes(self, keys: list[str], contracts: Mapping[str, OptionContract | None],
                allow_missing: bool = False) -> dict[str, Quote]:
        if not self._broker.is_connected():
            raise FeedError(FeedErrorKind.OUTAGE, f"IB prices unavailable: not connected to {self._broker.address}")
        try:
            if self._session != self._broker.session:
                self._broker.run_paced(self._forget, "prices not read", messages=0)
                self._session = self._broker.session
            missing = [k for k in keys if k not in self._tickers]
            for key in missing:
                self._subscribe(key, contracts[key])
            snapshot = self._broker.run_paced(
                lambda: {k: self._read(self._tickers[k]) for k in keys if k in self._tickers},
                "prices not read", messages=0)
        except BrokerError as error:
            raise FeedError(FeedErrorKind.OUTAGE, str(error)) from error
        quotes = {}
        for key in keys:
            bid, ask, last, vol, at = snapshot.get(key, (None, None, None, None, None))
            if at is None or (bid is None and ask is None and last is None):
                if allow_missing:
                    continue
                raise FeedError(FeedErrorKind.NO_DATA, f"IB has not quoted {key} yet")
            quotes[key] = Quote(key, bid, ask, last, at, self.name, vol)
        if not quotes and keys:
            raise FeedError(FeedErrorKind.NO_DATA, f"IB has not quoted any of {', '.join(keys)} yet")
        return quotes

    def _read(self, ticker: Ticker) -> tuple[float | None, float | None, float | None, float | None,
                                             datetime | None]:
        greeks = ticker.modelGreeks or ticker.bidGreeks or ticker.askGreeks or ticker.lastGreeks
        vol = greeks.impliedVol if greeks is not None and greeks.impliedVol else None
        return _price(ticker.bid), _price(ticker.ask), _price(ticker.last), vol, self._ticked_at.get(ticker)

    def _ticked(self, ticker: Ticker) -> None:
        self._ticked_at[ticker] = self._clock.now()

    def _forget(self) -> None:
        """A reconnect or IB's "data lost" (1101) dropped every subscription: subscribe again, and until
        a fresh tick do not quote the old prices ib_async keeps on a Ticker it hands back again."""
        for ticker in self._tickers.values():
            ticker.updateEvent -= self._ticked
        self._tickers.clear()
        self._ticked_at.clear()

    def _subscribe(self, key: str, contract: OptionContract | None) -> None:
        async def subscribe() -> None:
            ib = self._broker.connected_ib()
            ib_contract: Contract
            if contract is None:
                ib_contract = Stock(key, "SMART", "USD")
                await ib.qualifyContractsAsync(ib_contract)
                if not ib_contract.conId:
                    raise BrokerError(f"IB does not know the stock {key}")
            else:
                ib_contract = mapping.to_ib_option(await self._broker.qualify_async(contract))
            ticker = ib.reqMktData(ib_contract, "", False, False)
            ticker.updateEvent += self._ticked
            self._tickers[key] = ticker

        self._broker.run_paced(subscribe, f"no market data for {key}", messages=2)
