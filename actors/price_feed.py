"""PriceFeed: polls the price source each tick and publishes the underlying and held options' quotes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from actors.base import SupervisedActor
from actors.context import ActorContext, Roles
from domain import alerts
from domain.messages import MarketUpdate, PositionsSnapshot, Tick
from domain.model import OptionContract, Quote
from gateways.prices import FeedError, FeedErrorKind, PriceSource

log = logging.getLogger("cleanup.feed")


@dataclass
class FeedState:
    held: tuple[OptionContract, ...] = ()
    failing: str = ""  # the error kind of the current outage episode, "" when healthy
    alerted: bool = False  # whether this episode was alerted (so a "restored" alert has a "down" to answer)
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
        self.ctx.metrics.set_price_source(self.source.name if spot else None)
        self.send(Roles.RISK_ASSESSOR, MarketUpdate(spot, options, self.source.name, tick.now))

    def _failing(self, error: FeedError) -> None:
        if self.state.failing != error.kind.value:  # once per episode, not once per second
            # Nothing quoted yet (a subscription made a second ago, right after a failover) is not an
            # outage: alerting it would page the trader with a false "down" at the worst moment.
            if error.kind is FeedErrorKind.NO_DATA:
                log.warning("price feed %s: %s", self.source.name, error)
            else:
                log.error("price feed %s: %s", self.source.name, error)
                self.alert(alerts.outage(f"price feed ({self.source.name})", str(error)))
                self.state.alerted = True
        self.state.failing = error.kind.value

    def _healthy(self) -> None:
        if self.state.alerted:
            self.alert(alerts.outage(f"price feed ({self.source.name})", "quotes flowing again", restored=True))
        self.state.failing, self.state.alerted = "", False
