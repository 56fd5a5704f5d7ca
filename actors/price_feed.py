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

# Production ticks every second without waiting; a poll stuck behind a slow source (a Terminal
# timing out) would otherwise leave ticks queued, each deciding for an ever older "now".
MAX_TICK_LAG_SECONDS = 1.0


@dataclass
class FeedState:
    held: tuple[OptionContract, ...] = ()
    episode: feed_outage.Episode = field(default_factory=feed_outage.Episode)
    late_ticks: int = 0  # ticks dropped in the current slow spell
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
        elif isinstance(message, Tick):
            if self._on_time(message):
                self._poll(message)
                self._caught_up(message)
        else:
            return super().handle(message)
        self.ctx.keeper.keep(self.role, self.state)
        return None

    def _on_time(self, tick: Tick) -> bool:
        lag = (self.ctx.clock.now() - tick.now).total_seconds()
        if lag <= MAX_TICK_LAG_SECONDS:
            return True
        if not self.state.late_ticks:  # once per slow spell, not once per tick
            log.warning("price feed: dropping ticks queued behind slow polls (this one %.1f s late)", lag)
        self.state.late_ticks += 1
        return False

    def _caught_up(self, tick: Tick) -> None:
        """A slow spell ends with a poll that fits in a tick."""
        if self.state.late_ticks and (self.ctx.clock.now() - tick.now).total_seconds() <= MAX_TICK_LAG_SECONDS:
            log.info("price feed: polls on time again after dropping %d late tick(s)", self.state.late_ticks)
            self.state.late_ticks = 0

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
