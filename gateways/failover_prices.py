"""ThetaData first, IB prices when it fails, back to ThetaData once healthy: no human picks V1 or V2.

Both sources are polled on every tick while both are available: the primary so recovery is seen
(the background probe), the fallback so a wrong feed is caught by the cross-check and so IB's
subscriptions are warm the moment they are needed. Which one's quotes are used is decided by the
pure state machine in domain.feed_health; every event it emits is logged here with its detail
(the alert built from it carries only a summary).

The machine judges the sources by one underlying, ``symbol`` (settings.symbol). Any other
underlying (QQQ, IWM... of held positions) follows it: quoted by the source in use, and by the
other one only when that fails or its quote is stale.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from domain.clock import Clock
from domain.feed_errors import FeedError, FeedErrorKind
from domain.feed_health import FALLBACK, PRIMARY, EventKind, FeedEvent, FeedHealth, OptionsOutcome, PollOutcome
from domain.model import OptionContract, Quote
from gateways.ports import PriceSource

log = logging.getLogger("cleanup.feed")
QUIET_EVENTS = (EventKind.SWITCHED_BACK, EventKind.CROSSCHECK_RESOLVED)  # good news: info, not a warning


class FailoverPriceSource:
    def __init__(self, primary: PriceSource, fallback: PriceSource, health: FeedHealth, clock: Clock,
                 on_event: Callable[[FeedEvent], None], market_open: Callable[[datetime], bool], *,
                 symbol: str) -> None:
        self._sources = {PRIMARY: primary, FALLBACK: fallback}
        self._symbol = symbol
        self._health = health
        self._clock = clock
        self._on_event = on_event
        self._market_open = market_open
        self._primary_answered = False  # whether ThetaData's SPY quote came in this poll

    @property
    def name(self) -> str:
        return self._health.active

    def underlying_quote(self, symbol: str) -> Quote:
        if symbol != self._symbol:
            return self._follow(symbol)
        quotes: dict[str, Quote] = {}
        errors: dict[str, FeedError] = {}
        for label, source in self._sources.items():
            try:
                quotes[label] = source.underlying_quote(symbol)
            except FeedError as error:
                errors[label] = error
            now = self._clock.now()  # after the call: a slow answer is as old as the time it came
            market_open = self._market_open(now)
            if label in quotes:
                outcome = PollOutcome.ok(label, quotes[label], now, market_open)
            else:
                outcome = PollOutcome.failed(label, errors[label].kind.value, str(errors[label]), now, market_open)
            self._emit(self._health.observe(outcome))
        self._primary_answered = PRIMARY in quotes
        now = self._clock.now()
        market_open = self._market_open(now)
        self._emit(self._health.tick(now, market_open))
        used = self._health.stand_in(now, quotes.keys(), market_open)
        if used is not None:
            return quotes[used]
        active = self._health.active
        raise errors.get(active) or FeedError(FeedErrorKind.OUTAGE, f"no quote from {active}")

    def _follow(self, symbol: str) -> Quote:
        """An underlying the health machine does not judge by: the source in use's quote, else the other's."""
        active = self._health.active
        stale: Quote | None = None
        failure: FeedError | None = None
        for label in (active, FALLBACK if active == PRIMARY else PRIMARY):
            try:
                quote = self._sources[label].underlying_quote(symbol)
            except FeedError as error:
                failure = failure or error
                continue
            now = self._clock.now()
            if not self._market_open(now) or abs(quote.age_seconds(now)) <= self._health.config.max_age_seconds:
                return quote
            stale = stale or quote
        if stale is not None:
            return stale  # the policy judges its age
        assert failure is not None
        raise failure

    def option_quotes(self, contracts: Sequence[OptionContract]) -> Mapping[str, Quote]:
        primary: Mapping[str, Quote] | None = None
        failure: FeedError | None = None
        # On IB, ThetaData's options are probed only when its SPY quote came: a hanging Terminal
        # then costs one timeout a poll, not two.
        if self._health.active == PRIMARY or self._primary_answered:
            try:
                primary = self._sources[PRIMARY].option_quotes(contracts)
            except FeedError as error:
                failure = error
            now = self._clock.now()
            self._emit(self._health.observe_options(OptionsOutcome(
                PRIMARY, now, None if failure is None else failure.kind.value, str(failure or ""),
                self._market_open(now))))
        try:
            fallback = self._sources[FALLBACK].option_quotes(contracts)
        except FeedError as error:
            now = self._clock.now()
            self._emit(self._health.observe_options(OptionsOutcome(FALLBACK, now, error.kind.value, str(error),
                                                                   self._market_open(now))))
            if self._health.active == PRIMARY and primary is not None:
                return primary
            raise (failure if self._health.active == PRIMARY and failure is not None else error) from None
        if self._health.active == PRIMARY and primary is not None:
            return {**fallback, **primary}  # IB's quote only for a contract ThetaData lacks
        return fallback

    def _emit(self, events: Sequence[FeedEvent]) -> None:
        for event in events:
            level = logging.INFO if event.kind in QUIET_EVENTS else logging.WARNING
            log.log(level, "price feed %s: %s", event.kind.value, event.detail)
            self._on_event(event)
