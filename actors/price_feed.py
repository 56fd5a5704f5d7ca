"""PriceFeed: polls the price source each tick and publishes the underlyings' and held options' quotes.

It quotes ``settings.symbol`` (the primary, shown in status and metrics) and the underlying of every
held contract that delivers shares (domain.underlyings), each with its own price. The primary
failing is the feed failing (outage alert, no option quotes this poll); another underlying failing
only leaves its positions without a price, with an outage alert of its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from actors.base import SupervisedActor
from actors.context import ActorContext, Roles
from domain import alerts, feed_outage
from domain.feed_errors import FeedError
from domain.messages import MarketUpdate, PositionsSnapshot, Tick
from domain.model import OptionContract, Quote
from domain.underlyings import watched_underlyings
from gateways.ports import PriceSource

log = logging.getLogger("cleanup.feed")


@dataclass
class FeedState:
    held: tuple[OptionContract, ...] = ()
    episode: feed_outage.Episode = field(default_factory=feed_outage.Episode)
    options: dict[str, Quote] = field(default_factory=dict)
    symbol_episodes: dict[str, feed_outage.Episode] = field(default_factory=dict)  # underlyings but the primary


class PriceFeed(SupervisedActor):
    role = Roles.PRICE_FEED

    def __init__(self, ctx: ActorContext, source: PriceSource) -> None:
        super().__init__(ctx)
        self.source = source
        self.state: FeedState = ctx.keeper.get(self.role) or FeedState()

    def handle(self, message: Any) -> Any:
        if isinstance(message, PositionsSnapshot):
            self.state.held = tuple(p.contract for p in message.positions if p.quantity)
        elif isinstance(message, Tick):  # late ticks never get here (SupervisedActor drops them)
            self._poll(message)
        else:
            return super().handle(message)
        self.ctx.keeper.keep(self.role, self.state)
        return None

    def _poll(self, tick: Tick) -> None:
        primary, *others = watched_underlyings(self.ctx.config.settings.symbol, self.state.held)
        spots: dict[str, Quote] = {}
        options: dict[str, Quote] = {}
        try:
            spots[primary] = self.source.underlying_quote(primary)
            for symbol in others:
                quote = self._other_underlying(symbol)
                if quote is not None:
                    spots[symbol] = quote
            if self.state.held:
                options = dict(self.source.option_quotes(self.state.held))
            self._healthy()
        except FeedError as error:
            self._failing(error)
        answered = primary in spots
        source = spots[primary].source if answered else self.source.name  # IB's quote may stand in for one poll
        self.ctx.metrics.set_price_source(source if answered else None)
        self.send(Roles.RISK_ASSESSOR, MarketUpdate(spots, options, source, tick.now))

    def _other_underlying(self, symbol: str) -> Quote | None:
        """One more underlying's quote; its failure leaves only its own positions without a price."""
        episode = self.state.symbol_episodes.get(symbol, feed_outage.Episode())
        try:
            quote = self.source.underlying_quote(symbol)
        except FeedError as error:
            episode, alert = feed_outage.failed(episode, error.kind.value, self.ctx.clock.now(),
                                                self.ctx.config.settings.quote_max_age_seconds)
            self.state.symbol_episodes[symbol] = episode
            if alert:
                log.error("price feed %s, %s: %s", self.source.name, symbol, error)
                self.alert(alerts.outage(f"{symbol} price ({self.source.name})", str(error)))
            return None
        self.state.symbol_episodes[symbol], restored = feed_outage.recovered(episode)
        if restored:
            self.alert(alerts.outage(f"{symbol} price ({self.source.name})", "quotes flowing again", restored=True))
        return quote

    def _failing(self, error: FeedError) -> None:
        first = self.state.episode.since is None
        self.state.episode, alert = feed_outage.failed(self.state.episode, error.kind.value, self.ctx.clock.now(),
                                                      self.ctx.config.settings.quote_max_age_seconds)
        if alert:
            log.error("price feed %s: %s", self.source.name, error)
            self.alert(alerts.outage(f"price feed ({self.source.name})", str(error)))
        elif first:
            log.warning("price feed %s: %s", self.source.name, error)

    def _healthy(self) -> None:
        self.state.episode, restored = feed_outage.recovered(self.state.episode)
        if restored:
            self.alert(alerts.outage(f"price feed ({self.source.name})", "quotes flowing again", restored=True))
