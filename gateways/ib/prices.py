"""IBPriceSource: quotes from IB market data, the fallback when ThetaData is down.

It shares the IBBroker's connection (one API client per process) and subscribes once per
instrument (streaming ticks cost no API messages; a subscription costs one). A quote carries the
time its ticker last updated (a tick arrived), not the time it was read: a frozen ticker ages and
goes stale under the same rule as any other source's, judged by the caller. The time is ib_async's
moment of ``Ticker.time`` (it stamps the ticker when a tick's data arrives), read from the injected
clock in the ticker's update event, so a virtual clock ages IB quotes too.

Only live data is used. Every market-data generation (connect, reconnect, IB's "data lost" 1101)
starts by asking for live data (``reqMarketDataType(1)``: IB forgets it with the connection). An
instrument IB answers with an error code of ``codes.MARKET_DATA_CODES`` (no subscription, line limit,
competing session) or with delayed or frozen data is not quoted: the caller gets that FeedError,
whose one line names what to buy or change, and the log gets it once per instrument and code. Such
an instrument is asked for again every ``RETRY_AFTER``, so a freed line or a new subscription is
picked up without a restart. Subscriptions nobody asked for in a few polls are cancelled
(``idle_lines``): IB limits the lines an account may hold.

Threads: the caller (the PriceFeed) owns ``_session``, ``_lines``, ``_idle`` and ``_failing_since``;
the loop thread owns what ib_async's events write (``_ticked_at``, ``_problems``, ``_requests``,
``_told``) and reads the caller's state only inside a hop, while the caller waits for it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ib_async import IB, Contract, Stock, Ticker

from domain.clock import Clock
from domain.feed_errors import FeedError, FeedErrorKind
from domain.model import OptionContract, Quote
from gateways.broker import BrokerError
from gateways.ib import codes, mapping
from gateways.ib.broker import IBBroker
from gateways.ib.idle_lines import IdleLines
from gateways.ib.log_filter import quiet_ib_async_market_data_errors

log = logging.getLogger(__name__)
RETRY_AFTER = timedelta(seconds=60)

Reading = tuple[float | None, float | None, float | None, float | None, datetime | None]  # bid ask last iv at


def _price(value: float | None) -> float | None:
    """ib_async marks 'no price' as nan (or -1 for some ticks)."""
    if value is None or math.isnan(value) or value <= 0:
        return None
    return float(value)


def _product(key: str, contract: OptionContract | None) -> str:
    """The market data an instrument needs, as the operator buys it (options also need the underlying's)."""
    if contract is None:
        return f"US stock/ETF market data for {key}"
    return f"OPRA (US options) and {contract.symbol} market data"


def _one_line(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass(frozen=True)
class _Line:
    """One market-data subscription: its ticker, and what it is for (IB's error codes name its id)."""

    key: str
    contract: Contract  # as subscribed (qualified): cancelMktData finds the request by it
    ticker: Ticker
    product: str  # the market data it needs, for the operator's line when IB refuses it


@dataclass(frozen=True)
class _Problem:
    """Why an instrument is not quoted; asked for again once ``since`` is RETRY_AFTER old."""

    error: FeedError
    since: datetime
    streaming: bool  # IB still streams (delayed) data for the request: cancel it before asking again


class IBPriceSource:
    name = "ib"

    def __init__(self, broker: IBBroker, clock: Clock) -> None:
        self._broker = broker
        self._clock = clock
        self._session = -1  # the broker's market-data generation the subscriptions belong to
        self._lines: dict[str, _Line] = {}  # instrument key -> its live subscription
        self._idle = IdleLines()
        self._failing_since: dict[str, datetime] = {}  # instruments in a problem, as of the last read
        # Loop thread only:
        self._hooked: IB | None = None  # the ib_async client whose errorEvent we hear
        self._ticked_at: dict[Ticker, datetime] = {}
        self._requests: dict[int, _Line] = {}  # market-data request id -> its subscription
        self._problems: dict[str, _Problem] = {}
        self._told: set[tuple[str, int | str]] = set()  # (instrument, code or data type) already logged
        quiet_ib_async_market_data_errors()  # ours is the one line, with the fix

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
                self._broker.run_paced(self._start_session, "prices not read", messages=1)
                self._session = self._broker.session
                self._lines.clear()
                self._failing_since = {}
            now = self._clock.now()
            retry = [key for key, since in self._failing_since.items() if now - since >= RETRY_AFTER]
            self._release([*self._idle.asked(keys), *retry])
            for key in [k for k in keys if k not in self._lines]:
                self._lines[key] = self._subscribe(key, contracts[key])
            lines = {k: self._lines[k] for k in keys}
            snapshot, self._failing_since = self._broker.run_paced(lambda: self._snapshot(lines),
                                                                   "prices not read", messages=0)
        except BrokerError as error:
            raise FeedError(FeedErrorKind.OUTAGE, str(error)) from error
        quotes: dict[str, Quote] = {}
        problems: list[FeedError] = []
        for key in keys:
            reading = snapshot[key]
            if isinstance(reading, FeedError):
                problems.append(reading)
                if not allow_missing:
                    raise reading
                continue
            bid, ask, last, vol, at = reading
            if at is None or (bid is None and ask is None and last is None):
                if allow_missing:
                    continue
                raise FeedError(FeedErrorKind.NO_DATA, f"IB has not quoted {key} yet")
            quotes[key] = Quote(key, bid, ask, last, at, self.name, vol)
        if not quotes and keys:
            raise problems[0] if problems else FeedError(FeedErrorKind.NO_DATA,
                                                         f"IB has not quoted any of {', '.join(keys)} yet")
        return quotes

    # --- the loop thread's side -------------------------------------------------------------------

    def _start_session(self) -> None:
        """A (re)connect or IB's "data lost" (1101) dropped every subscription and the market data type:
        ask for live data before subscribing again, and until a fresh tick do not quote the old prices
        ib_async keeps on a Ticker it hands back again."""
        ib = self._broker.connected_ib()
        if ib is not self._hooked:
            if self._hooked is not None:
                self._hooked.errorEvent -= self._on_error
            ib.errorEvent += self._on_error
            self._hooked = ib
        for line in self._lines.values():
            line.ticker.updateEvent -= self._ticked
        self._ticked_at.clear()
        self._requests.clear()
        self._problems.clear()
        ib.reqMarketDataType(codes.LIVE_DATA)

    def _subscribe(self, key: str, contract: OptionContract | None) -> _Line:
        async def subscribe() -> _Line:
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
            line = _Line(key, ib_contract, ticker, _product(key, contract))
            # ib_async's own map of the request id it just used, to know IB's error codes for it.
            self._requests[ib.wrapper.ticker2ReqId["mktData"][ticker]] = line
            ticker.updateEvent += self._ticked
            return line

        return self._broker.run_paced(subscribe, f"no market data for {key}", messages=2)

    def _release(self, keys: Collection[str]) -> None:
        """Cancel these instruments' subscriptions (unused, or in a problem to retry); a request IB
        refused holds nothing at IB, so nothing is sent for it."""
        lines = {key: self._lines.pop(key) for key in dict.fromkeys(keys) if key in self._lines}
        if not lines:
            return

        def release() -> None:
            ib = self._broker.connected_ib()
            for key, line in lines.items():
                problem = self._problems.pop(key, None)
                if problem is None or problem.streaming:
                    ib.cancelMktData(line.contract)
                line.ticker.updateEvent -= self._ticked
                self._ticked_at.pop(line.ticker, None)
                for req_id in [i for i, request in self._requests.items() if request is line]:
                    del self._requests[req_id]

        self._broker.run_paced(release, "market data not cancelled", messages=len(lines))

    def _snapshot(self, lines: Mapping[str, _Line]) -> tuple[dict[str, Reading | FeedError], dict[str, datetime]]:
        """Each instrument's reading or problem, and since when each problem has lasted."""
        now = self._clock.now()
        readings: dict[str, Reading | FeedError] = {}
        for key, line in lines.items():
            at = self._ticked_at.get(line.ticker)
            # Judged once the subscription ticked: IB announces the data type before the first tick.
            if key not in self._problems and at is not None and line.ticker.marketDataType != codes.LIVE_DATA:
                self._not_live(line, now)
            problem = self._problems.get(key)
            readings[key] = problem.error if problem is not None else self._read(line.ticker, at)
        return readings, {key: problem.since for key, problem in self._problems.items()}

    def _read(self, ticker: Ticker, at: datetime | None) -> Reading:
        greeks = ticker.modelGreeks or ticker.bidGreeks or ticker.askGreeks or ticker.lastGreeks
        vol = greeks.impliedVol if greeks is not None and greeks.impliedVol else None
        return _price(ticker.bid), _price(ticker.ask), _price(ticker.last), vol, at

    def _ticked(self, ticker: Ticker) -> None:
        self._ticked_at[ticker] = self._clock.now()

    def _on_error(self, req_id: int, code: int, text: str, contract: Contract | None) -> None:
        request = self._requests.get(req_id)
        if request is None:
            return  # not one of our market-data requests (orders, contract details, a cancelled one)
        known = codes.MARKET_DATA_CODES.get(code)
        if known is None:
            self._tell(request.key, code, logging.WARNING,
                       f"IB market data for {request.key}: IB {code} {_one_line(text)} (not acted on)")
            return
        message = (f"IB market data for {request.key}: IB {code} {_one_line(text)}; "
                   f"{known.fix.format(product=request.product)}")
        if known.answer is codes.MarketDataAnswer.PARTIAL:
            self._tell(request.key, code, logging.WARNING, message + " (its live prices are still used)")
            return
        self._problems[request.key] = _Problem(FeedError(known.kind, message), self._clock.now(),
                                               streaming=known.answer is codes.MarketDataAnswer.DELAYED)
        self._tell(request.key, code, logging.ERROR, message)

    def _not_live(self, line: _Line, now: datetime) -> None:
        data_type = line.ticker.marketDataType
        kind = codes.MARKET_DATA_TYPES.get(data_type, f"type {data_type}")
        message = (f"IB sends {kind} market data for {line.key}, not live: not used; "
                   f"{codes.SUBSCRIBE.format(product=line.product)}")
        self._problems[line.key] = _Problem(FeedError(FeedErrorKind.PERMISSION, message), now, streaming=True)
        self._tell(line.key, f"type {data_type}", logging.ERROR, message)

    def _tell(self, key: str, what: int | str, level: int, message: str) -> None:
        """Log once per instrument and code for the life of the process: the fix is the operator's."""
        if (key, what) not in self._told:
            self._told.add((key, what))
            log.log(level, "%s", message)
