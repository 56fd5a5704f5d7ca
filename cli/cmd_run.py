"""`cleanup-manager run`: the service against IB Gateway, prices from ThetaData (IB as fallback) or IB."""

from __future__ import annotations

import argparse
import logging
import threading

from cli.common import EXIT_CONFIG, EXIT_UNREACHABLE, add_config_flags, fail, load
from config.schema import Settings
from domain.clock import Clock
from domain.session import ExpirySession
from gateways.apprise_channels import sender_from_settings
from gateways.audit.durable import DurableAuditLog
from gateways.audit.factory import open_store
from gateways.broker import BrokerError
from gateways.calendar import MarketCalendar
from gateways.ib import check_gateway
from gateways.metrics import Metrics, MetricsEndpointError, start_metrics_server
from runtime.app import build_app
from runtime.clock import WallClock
from runtime.control import control_plane
from runtime.daemon import install_stop_signals, serve
from runtime.ib_wiring import ib_gateways
from runtime.logfiles import setup_logging
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
    sender = sender_from_settings(settings, clock, on_delivery=metrics.alert_delivery)
    audit_log = DurableAuditLog(settings.data_dir / "spool", lambda: open_store(settings))  # it migrates on connect
    stop = threading.Event()
    install_stop_signals(stop)
    gateways = ib_gateways(settings, clock, metrics, sender, background=True)
    with build_app(settings, clock, session, gateways, sender, audit_log, metrics,
                   account=settings.ib_account or None, previous=previous) as app, \
            control_plane(app.service, settings):
        return serve(app.service, clock, until, stop, notifier)
