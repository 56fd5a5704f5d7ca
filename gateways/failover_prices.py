"""ThetaData first, IB prices when it fails, back to ThetaData once healthy: no human picks V1 or V2.

Both sources are polled on every tick while both are available: the primary so recovery is seen
(the background probe), the fallback so a wrong feed is caught by the cross-check. Which one's
quotes are used is decided by the pure state machine in domain.feed_health.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from domain.feed_health import FALLBACK, PRIMARY, FeedEvent, FeedHealth, PollOutcome
from domain.model import OptionContract, Quote
from gateways.prices import FeedError, FeedErrorKind, PriceSource
from runtime.clock import Clock


class FailoverPriceSource:
    def __init__(self, primary: PriceSource, fallback: PriceSource, health: FeedHealth, clock: Clock,
                 on_event: Callable[[FeedEvent], None]) -> None:
        self._sources = {PRIMARY: primary, FALLBACK: fallback}
        self._health = health
        self._clock = clock
        self._on_event = on_event

    @property
    def name(self) -> str:
        return self._health.active

    def underlying_quote(self, symbol: str) -> Quote:
        quotes: dict[str, Quote] = {}
        errors: dict[str, FeedError] = {}
        for label, source in self._sources.items():
            now = self._clock.now()
            try:
                quotes[label] = source.underlying_quote(symbol)
                outcome = PollOutcome.ok(label, quotes[label], now)
            except FeedError as error:
                errors[label] = error
                outcome = PollOutcome.failed(label, error.kind.value, str(error), now)
            self._emit(self._health.observe(outcome))
        self._emit(self._health.tick(self._clock.now()))
        active = self._health.active
        if active in quotes:
            return quotes[active]
        raise errors.get(active) or FeedError(FeedErrorKind.OUTAGE, f"no quote from {active}")

    def option_quotes(self, contracts: Sequence[OptionContract]) -> Mapping[str, Quote]:
        return self._sources[self._health.active].option_quotes(contracts)

    def _emit(self, events: Sequence[FeedEvent]) -> None:
        for event in events:
            self._on_event(event)
