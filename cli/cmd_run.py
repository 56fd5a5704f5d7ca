"""`cleanup-manager run`: the service against IB Gateway, prices from ThetaData (IB as fallback) or IB."""

from __future__ import annotations

import argparse
import logging
import sys
import threading

from cli.common import EXIT_CONFIG, EXIT_UNREACHABLE, add_config_flags, fail, load
from config.schema import Settings
from domain import alerts
from domain.clock import Clock
from domain.feed_health import EventKind, FeedEvent, FeedHealth, FeedHealthConfig, Reason
from domain.session import ExpirySession
from gateways.apprise_channels import sender_from_settings
from gateways.audit.durable import DurableAuditLog
from gateways.audit.factory import open_store
from gateways.broker import BrokerError
from gateways.calendar import MarketCalendar
from gateways.failover_prices import FailoverPriceSource
from gateways.ib import IBBroker, IBPriceSource, check_gateway
from gateways.ib.log_filter import quiet_ib_async_connect_failures
from gateways.market_hours import RegularHours
from gateways.metrics import Metrics, MetricsEndpointError, start_metrics_server
from gateways.prices import OnFeedError, PriceSource, ReportingSource
from gateways.thetadata import ThetaDataPriceSource
from runtime.clock import WallClock
from runtime.connection_watcher import ConnectionWatcher
from runtime.control import control_plane
from runtime.daemon import install_stop_signals, serve
from runtime.logfiles import setup_logging
from runtime.service import Service
from runtime.service_window import Action, service_plan
from runtime.systemd import SystemdNotifier

HELP = "run the service against IB Gateway (systemd runs this); --check tests the connection and exits"
log = logging.getLogger("cleanup.run")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help=HELP, description=HELP)
    parser.add_argument("--check", action="store_true",
                        help="connect once, print account, positions and working orders, and exit")
    add_config_flags(parser, mode=True)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load(args).settings
    if args.check:
        logging.getLogger("ib_async").setLevel(logging.CRITICAL)  # our one line says it better
        try:
            print(check_gateway(settings, WallClock()))
        except BrokerError as error:
            fail(str(error), EXIT_UNREACHABLE)
        return 0
    if settings.price_source == "sim":
        fail("config error: price_source='sim' is for `cleanup-manager simulate`; run needs thetadata or ib", 2)
    setup_logging(settings.log_dir, secrets=[s for s in (settings.secret("db_password"),
                                                           settings.secret("telegram_bot_token")) if s])
    clock = WallClock()
    notifier = SystemdNotifier()
    plan = service_plan(clock.now(), MarketCalendar(dividends=settings.dividend_schedule))
    if plan.action is Action.IDLE_EXIT or plan.session is None:
        log.info("nothing to guard: %s", plan.reason)
        notifier.ready(plan.reason)
        notifier.stopping(plan.reason)
        return 0
    return serve_session(settings, clock, plan.session, plan.until, notifier, previous=plan.previous)


def serve_session(settings: Settings, clock: Clock, session, until, notifier: SystemdNotifier,
                  previous: ExpirySession | None = None) -> int:
    """The service for one session until ``until``; exits 2 with one line if the metrics endpoint is taken."""
    metrics = Metrics()
    # Bound before anything touches IB Gateway: a second instance stops here, having connected nowhere.
    try:
        endpoint = start_metrics_server(metrics, settings.metrics_host, settings.metrics_port)
    except MetricsEndpointError as error:
        fail(str(error), EXIT_CONFIG)
    with endpoint:
        return _serve(settings, clock, session, until, notifier, metrics, previous)


def _serve(settings: Settings, clock: Clock, session, until, notifier: SystemdNotifier, metrics: Metrics,
           previous: ExpirySession | None) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    broker = IBBroker(settings, clock)
    sender = sender_from_settings(settings, clock, on_delivery=metrics.alert_delivery)
    connection = ConnectionWatcher(broker, metrics, sender)
    broker.set_connection_handler(connection.changed)  # before connecting: no change may go unheard
    broker.set_write_access_handler(connection.write_access)
    quiet_ib_async_connect_failures()
    try:
        broker.connect()
    except BrokerError as error:
        print(f"{error} (retrying in the background)", file=sys.stderr)
        broker.connect_in_background()
    metrics.set_broker_connected(broker.is_connected())
    source = price_source(settings, broker, clock, connection.alert, on_error=metrics.feed_error)
    audit_log = DurableAuditLog(settings.data_dir / "spool", lambda: open_store(settings))  # it migrates on connect
    service = Service(settings, clock, session, broker, source, sender, audit_log, metrics,
                      account=settings.ib_account or (broker.account() if broker.is_connected() else ""),
                      previous=previous)
    connection.attach(service)
    stop = threading.Event()
    install_stop_signals(stop)
    service.start()
    try:
        with control_plane(service, settings):
            code = serve(service, clock, until, stop, notifier)
    finally:
        service.stop()
        sender.close(5.0)
        broker.disconnect()
        audit_log.finish()  # once more whatever the backoff; one line says how many records stay spooled
    return code


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
