"""PriceFeed: polls the price source each tick and publishes the underlying and held options' quotes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from actors.base import SupervisedActor
from actors.context import ActorContext, Roles
from domain import alerts, feed_outage
from domain.messages import MarketUpdate, PositionsSnapshot, Tick
from domain.model import OptionContract, Quote
from gateways.prices import FeedError, PriceSource

log = logging.getLogger("cleanup.feed")


@dataclass
class FeedState:
    held: tuple[OptionContract, ...] = ()
    episode: feed_outage.Episode = field(default_factory=feed_outage.Episode)
    options: dict[str, Quote] = field(default_factory=dict)


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
        symbol = self.ctx.config.settings.symbol
        spot: Quote | None = None
        options: dict[str, Quote] = {}
        try:
            spot = self.source.underlying_quote(symbol)
            if self.state.held:
                options = dict(self.source.option_quotes(self.state.held))
            self._healthy()
        except FeedError as error:
            self._failing(error)
        source = spot.source if spot else self.source.name  # IB's quote may stand in for one poll
        self.ctx.metrics.set_price_source(source if spot else None)
        self.send(Roles.RISK_ASSESSOR, MarketUpdate(spot, options, source, tick.now))

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
