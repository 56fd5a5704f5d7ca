"""IB Gateway and the configured price source, wired as `cleanup-manager run` wires them (runtime.app.Gateways).

`run`, the tests' trees over the fake IB Gateway and the failover tests all take the tree's outside
world from here: the connection watcher hears every change from before the connect, the price source
is ThetaData with IB as its fallback (or IB alone), each failed request counted in the metrics.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from config.schema import Settings
from domain import alerts
from domain.clock import Clock
from domain.feed_health import EventKind, FeedEvent, FeedHealth, FeedHealthConfig, Reason
from gateways.broker import BrokerError
from gateways.calendar import MarketCalendar
from gateways.failover_prices import FailoverPriceSource
from gateways.ib import IBBroker, IBPriceSource
from gateways.ib.log_filter import quiet_ib_async_connect_failures
from gateways.market_hours import RegularHours
from gateways.metrics import Metrics
from gateways.ports import AlertSender, Broker, PriceSource
from gateways.prices import OnFeedError, ReportingSource
from gateways.thetadata import ThetaDataPriceSource
from runtime.app import Gateways
from runtime.connection_watcher import ConnectionWatcher


def ib_gateways(settings: Settings, clock: Clock, metrics: Metrics, sender: AlertSender, *,
                background: bool = False, prices: PricesFactory | None = None) -> Gateways:
    """IB Gateway wired as `run` wires it: the connection watcher hears every change from before the connect;
    ``background``: IB Gateway down at start is one line on stderr and a connect retried in the background
    (else the BrokerError stops the start); ``prices``: the price source (default: the configured one)."""
    connection: list[ConnectionWatcher] = []

    def broker() -> Broker:
        made = IBBroker(settings, clock)
        watcher = ConnectionWatcher(made, metrics, sender)
        made.set_connection_handler(watcher.changed)  # before connecting: no change may go unheard
        made.set_write_access_handler(watcher.write_access)
        connection.append(watcher)
        return made

    def connect(made: Broker) -> None:
        assert isinstance(made, IBBroker)
        quiet_ib_async_connect_failures()
        try:
            made.connect()
        except BrokerError as error:
            if not background:
                raise
            print(f"{error} (retrying in the background)", file=sys.stderr)
            made.connect_in_background()
        metrics.set_broker_connected(made.is_connected())

    def source(made: Broker) -> PriceSource:
        assert isinstance(made, IBBroker)
        make = prices or (lambda s, b, c, alert: price_source(s, b, c, alert, on_error=metrics.feed_error))
        return make(settings, made, clock, connection[0].alert)

    return Gateways(broker, source, connect, lambda service: connection[0].attach(service))


PricesFactory = Callable[[Settings, IBBroker, Clock, Callable[[alerts.Alert], None]], PriceSource]


def price_source(settings: Settings, broker: IBBroker, clock: Clock, alert,
                 on_error: OnFeedError | None = None) -> PriceSource:
    """The configured source; ``on_error`` (Metrics.feed_error) hears of every failed request."""
    def counted(source: PriceSource) -> PriceSource:
        return ReportingSource(source, on_error) if on_error is not None else source

    ib_prices = counted(IBPriceSource(broker, clock))
    if settings.price_source == "ib":
        return ib_prices
    health = FeedHealth(FeedHealthConfig.from_settings(settings), clock.now())
    return FailoverPriceSource(counted(ThetaDataPriceSource.from_settings(settings)), ib_prices, health, clock,
                               lambda event: alert(feed_alert(event)), RegularHours(MarketCalendar()),
                               symbol=settings.symbol)


def feed_alert(event: FeedEvent) -> alerts.Alert:
    if event.reason == Reason.PERMISSION:  # the operator must act: one alert, with what to buy
        return alerts.Alert(alerts.Severity.CRITICAL, "ThetaData lacks permission: using IB prices", event.detail,
                            "feed:permission")
    if event.reason == Reason.FALLBACK_PERMISSION:  # no fallback the day ThetaData fails: fix it before then
        return alerts.Alert(alerts.Severity.WARNING, "IB market data lacks permission: no fallback for ThetaData",
                            event.detail, "feed:ib_permission")
    if event.kind is EventKind.SWITCHED_TO_FALLBACK:
        return alerts.outage("ThetaData price feed", event.detail, fallback="IB prices")
    if event.kind is EventKind.SWITCHED_BACK:
        return alerts.outage("ThetaData price feed", event.detail, restored=True)
    return alerts.Alert(alerts.Severity.WARNING, f"Price feed: {event.kind.value.replace('_', ' ')}", event.detail,
                        f"feed:{event.kind.value}")
