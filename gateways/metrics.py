"""Prometheus metrics of the cleanup manager, behind one small API the actors call.

Every metric lives in a registry owned by a :class:`Metrics` instance, never in prometheus-client's
global one, so tests and simulations running in one process each get their own numbers. Names
follow Prometheus conventions: one ``cleanup_`` prefix, base units (seconds, dollars, ratios),
``_total`` on counters, and labels drawn from bounded sets (modes, stages, risk levels, price
sources, actor roles). The only open-ended label is the contract on per-position gauges, and it is
bounded by the open positions: :meth:`Metrics.record_positions` drops the series of positions that
went away. No actor touches a prometheus-client object; docs/metrics.md describes every series.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import start_wsgi_server
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from domain.alerts import Delivery
from domain.clock import Clock
from domain.feed_errors import FeedErrorKind
from domain.mode import Mode
from domain.policy import Assessment
from domain.risk import RiskLevel
from domain.settlement import SessionCounts
from domain.stages import Stage

PREFIX = "cleanup"
PRICE_SOURCES = ("thetadata", "ib", "sim")
FEED_ERROR_KINDS = tuple(kind.value for kind in FeedErrorKind)
ALERT_OUTCOMES = tuple(outcome.value for outcome in Delivery if outcome is not Delivery.SUPPRESSED)
# Dollars per share: a cent resolution near zero (the cap is 10 cents), coarser for the final
# escalation to market orders. The 0 bucket holds fills exactly at the reference mid.
SLIPPAGE_BUCKETS = (0.0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.10, 0.15, 0.25, 0.50, 1.00, float("inf"))
IMPROVEMENT_BUCKETS = SLIPPAGE_BUCKETS[1:]  # always > 0


def _values(enum_or_values: Iterable[Any]) -> tuple[str, ...]:
    return tuple(str(getattr(item, "value", item)) for item in enum_or_values)


MODES = _values(Mode)
STAGES = _values(Stage)
UNASSESSED = "UNKNOWN"  # risk of an open position never priced yet (no fresh spot since it appeared)
RISK_LEVELS = (*_values(RiskLevel), UNASSESSED)


def _label(value: Any, allowed: tuple[str, ...], what: str) -> str:
    """A bounded label value, or ValueError: an unexpected value is a bug, caught by the tests."""
    text = str(getattr(value, "value", value))
    if text not in allowed:
        raise ValueError(f"unknown {what} {text!r} for a metric label; expected one of {', '.join(allowed)}")
    return text


class Metrics:
    """Everything the service reports to Prometheus; one method per fact an actor learns.

    Thread-safe: prometheus-client metrics are, and the per-position label bookkeeping is guarded.
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, process_collectors: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        if process_collectors:
            # process_* (CPU, memory, start time, fds) and python_* (version, gc) for this process.
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        self._lock = threading.Lock()
        self._levels: dict[str, str] = {}  # open positions with per-position series: their last risk level
        self._ib_messages_seen = 0
        self._started = time.monotonic()
        r = self.registry

        self._up = Gauge(f"{PREFIX}_up", "1 while the service runs its supervision tree, 0 while stopping",
                         registry=r)
        self._start_time = Gauge(f"{PREFIX}_start_time_seconds", "Unix time the service started", registry=r)
        self._start_time.set(time.time())
        self._uptime = Gauge(f"{PREFIX}_uptime_seconds", "Seconds since the service started", registry=r)
        # Computed at scrape time, so nobody has to tick it.
        self._uptime.set_function(lambda: time.monotonic() - self._started)

        self._restarts = Counter(f"{PREFIX}_actor_restarts", "Actor restarts by the supervisor",
                                 ["actor"], registry=r)
        self._escalations = Counter(f"{PREFIX}_supervisor_escalations",
                                    "Times the supervisor gave up restarting and stopped safely", registry=r)

        self._mode = Gauge(f"{PREFIX}_mode", "1 for the current trading mode, 0 for the others", ["mode"],
                           registry=r)
        self._kill_switch = Gauge(f"{PREFIX}_kill_switch_engaged", "1 while the kill switch stops all trading",
                                  registry=r)
        self._breaker = Gauge(f"{PREFIX}_circuit_breaker_open", "1 while the circuit breaker halts order flow",
                              registry=r)
        self._time_to_close = Gauge(f"{PREFIX}_time_to_close_seconds",
                                    "Seconds to the close of the expiring contracts' session (negative after)",
                                    registry=r)
        self._stage = Gauge(f"{PREFIX}_stage", "1 for the current stage of the afternoon, 0 for the others",
                            ["stage"], registry=r)
        self._positions_gauge = Gauge(f"{PREFIX}_positions", "Open expiring positions by stage and risk level",
                                      ["stage", "risk"], registry=r)
        self._moneyness = Gauge(f"{PREFIX}_position_moneyness_ratio",
                                "Moneyness of an open position as a fraction of the strike; positive is ITM",
                                ["contract"], registry=r)
        self._probability = Gauge(f"{PREFIX}_position_itm_probability_ratio",
                                  "Probability (0-1) that an open position finishes in the money",
                                  ["contract"], registry=r)

        self._submitted = Counter(f"{PREFIX}_orders_submitted", "Closing orders sent to the broker", registry=r)
        self._filled = Counter(f"{PREFIX}_orders_filled", "Closing orders filled", registry=r)
        self._rejected = Counter(f"{PREFIX}_orders_rejected", "Closing orders rejected by the broker", registry=r)
        self._cancelled = Counter(f"{PREFIX}_orders_cancelled", "Closing orders cancelled", registry=r)
        self._attempts = Counter(f"{PREFIX}_closing_attempts",
                                 "Closing attempts (first orders and price-walk replacements)", registry=r)
        # Two histograms, as Prometheus advises for values of both signs: a negative observation
        # would make _sum fall, which increase() and rate() read as a counter reset. Observed once
        # per contract filled, so their mean is the quantity-weighted one of the simulation summary.
        self._slippage = Histogram(f"{PREFIX}_slippage_dollars",
                                   "Adverse slippage: fill price at or worse than the reference mid, dollars per share",
                                   buckets=SLIPPAGE_BUCKETS, registry=r)
        self._improvement = Histogram(f"{PREFIX}_price_improvement_dollars",
                                      "Price improvement: fill price better than the reference mid, dollars per share",
                                      buckets=IMPROVEMENT_BUCKETS, registry=r)

        self._at_risk_closed = Counter(f"{PREFIX}_at_risk_positions_closed",
                                       "At-risk expiring positions closed before the bell", registry=r)
        self._left_itm = Counter(f"{PREFIX}_positions_left_itm_at_close",
                                 "Expiring positions still in the money at the close", registry=r)
        self._false_positives = Counter(f"{PREFIX}_false_positives",
                                        "Positions closed that would have expired out of the money", registry=r)
        # The false-positive rate's denominator: every position we closed, at risk or not.
        self._closed = Counter(f"{PREFIX}_positions_closed", "Expiring positions closed by the service",
                               registry=r)

        self._price_source = Gauge(f"{PREFIX}_price_source", "1 for the price source in use, 0 for the others",
                                   ["source"], registry=r)
        self._quote_age = Gauge(f"{PREFIX}_quote_age_seconds",
                                "Age of the latest underlying quote (since the start while none has come)",
                                registry=r)
        # Computed at scrape time on the service's clock: a feed that never delivered, or an actor
        # that stopped reporting, still shows a growing age and the stale-feed alert fires.
        self._clock: Clock | None = None
        self._quote_at: datetime | None = None
        self._quote_age.set_function(self._quote_age_now)
        self._ib_messages = Counter(f"{PREFIX}_ib_messages_sent", "Messages sent to the IB API", registry=r)
        self._audit_backlog = Gauge(f"{PREFIX}_audit_backlog", "Audit records waiting to be written", registry=r)
        # Computed at scrape time, as the quote age: it keeps growing even if the audit actor stopped.
        self._audit_oldest_at: datetime | None = None
        self._audit_oldest_age = Gauge(f"{PREFIX}_audit_oldest_unsent_age_seconds",
                                       "Age of the oldest audit record not yet in the audit database (0: none)",
                                       registry=r)
        self._audit_oldest_age.set_function(self._audit_oldest_age_now)
        self._audit_page_after = Gauge(f"{PREFIX}_audit_outage_page_seconds",
                                       "Oldest unsent audit record age that pages (setting audit_outage_minutes)",
                                       registry=r)
        self._broker_connected = Gauge(f"{PREFIX}_broker_connected",
                                       "1 while the broker (IB Gateway) API connection is up and reconciled",
                                       registry=r)
        self._feed_errors = Counter(f"{PREFIX}_price_feed_errors", "Failed price-source requests by source and kind",
                                    ["source", "kind"], registry=r)
        # Channels are few (one per configured alert URL) and labelled <scheme>#<n>: never a URL or token.
        self._alert_deliveries = Counter(f"{PREFIX}_alert_deliveries", "Alert deliveries by channel and outcome",
                                         ["channel", "outcome"], registry=r)
        self._alerts_suppressed = Counter(f"{PREFIX}_alerts_suppressed", "Alerts the throttle held back", registry=r)

        # Every bounded label value exists from the start, so queries return 0 rather than nothing.
        for mode in MODES:
            self._mode.labels(mode=mode)
        for stage in STAGES:
            self._stage.labels(stage=stage)
            for risk in RISK_LEVELS:
                self._positions_gauge.labels(stage=stage, risk=risk)
        for source in PRICE_SOURCES:
            self._price_source.labels(source=source)
            for kind in FEED_ERROR_KINDS:
                self._feed_errors.labels(source=source, kind=kind)

    # -- process and supervision -------------------------------------------------------------
    def set_up(self, up: bool = True) -> None:
        self._up.set(1 if up else 0)

    def register_actor(self, actor: str) -> None:
        """Export a 0 restart count for an actor role, so restart panels have data before a crash."""
        self._restarts.labels(actor=actor)

    def actor_restarted(self, actor: str) -> None:
        self._restarts.labels(actor=actor).inc()

    def supervisor_escalated(self) -> None:
        self._escalations.inc()

    # -- state ---------------------------------------------------------------------------------
    def set_mode(self, mode: Mode | str) -> None:
        self._one_hot(self._mode, "mode", _label(mode, MODES, "mode"), MODES)

    def set_kill_switch(self, on: bool) -> None:
        self._kill_switch.set(1 if on else 0)

    def set_breaker_open(self, open_: bool) -> None:
        self._breaker.set(1 if open_ else 0)

    def set_time_to_close(self, seconds: float, stage: Stage | str) -> None:
        self._time_to_close.set(seconds)
        self._one_hot(self._stage, "stage", _label(stage, STAGES, "stage"), STAGES)

    # -- positions -----------------------------------------------------------------------------
    def record_positions(self, stage: Stage | str, open_keys: Iterable[str], assessments: Iterable[Assessment]) -> None:
        """One call per assessment pass: every open expiring position, and those assessed now.

        A position assessed now gets its moneyness, P(ITM) and risk level; one open but not assessed
        (no fresh spot: a feed outage) keeps its last values, so positions at risk stay visible and
        alerts on them can fire; one never assessed counts as risk UNKNOWN. The series of a position
        no longer open are deleted. ``cleanup_positions`` counts every open position, in ``stage``.
        """
        current = _label(stage, STAGES, "stage")
        keep = set(open_keys)
        with self._lock:
            for item in assessments:
                key = item.contract.key
                self._levels[key] = _label(item.level, RISK_LEVELS, "risk level")
                self._moneyness.labels(contract=key).set(item.moneyness)
                self._probability.labels(contract=key).set(item.probability_itm)
            for key in set(self._levels) - keep:
                del self._levels[key]
                self._moneyness.remove(key)
                self._probability.remove(key)
            levels = [self._levels.get(key, UNASSESSED) for key in keep]
        for stage_value in STAGES:
            for risk in RISK_LEVELS:
                count = levels.count(risk) if stage_value == current else 0
                self._positions_gauge.labels(stage=stage_value, risk=risk).set(count)

    # -- orders and outcomes -------------------------------------------------------------------
    def order_submitted(self) -> None:
        self._submitted.inc()

    def order_filled(self, slippage_dollars_per_share: float | None = None, contracts: int = 1) -> None:
        """A fill of ``contracts``; with its slippage (per share, positive when worse than the reference
        mid, negative for price improvement) when known."""
        self._filled.inc()
        if slippage_dollars_per_share is None:
            return
        histogram = self._slippage if slippage_dollars_per_share >= 0 else self._improvement
        for _ in range(contracts):
            histogram.observe(abs(slippage_dollars_per_share))

    def order_rejected(self) -> None:
        self._rejected.inc()

    def order_cancelled(self) -> None:
        self._cancelled.inc()

    def closing_attempt(self) -> None:
        self._attempts.inc()

    def record_settlement(self, counts: SessionCounts) -> None:
        """The session's outcome, once, after the close (domain.settlement.settle_at_close)."""
        self._at_risk_closed.inc(counts.prevented)
        self._left_itm.inc(counts.left_in_the_money)
        self._false_positives.inc(counts.false_positives)
        self._closed.inc(counts.closed)

    # -- feeds and back-ends -------------------------------------------------------------------
    def set_price_source(self, source: str | None) -> None:
        """The source in use (thetadata, ib or sim); None when no source is delivering."""
        if source is None:
            for value in PRICE_SOURCES:
                self._price_source.labels(source=value).set(0)
            return
        self._one_hot(self._price_source, "source", _label(source, PRICE_SOURCES, "price source"), PRICE_SOURCES)

    def use_clock(self, clock: Clock) -> None:
        """Measure quote age on the service's clock; until a quote arrives it counts from now."""
        with self._lock:
            self._clock, self._quote_at = clock, clock.now()

    def quote_received(self, at: datetime) -> None:
        """An underlying quote, by its exchange time; an older one than already seen changes nothing."""
        with self._lock:
            if self._quote_at is None or at > self._quote_at:
                self._quote_at = at

    def ib_messages_sent(self, count: int) -> None:
        """Report the broker's running count of messages sent; a smaller count means it restarted."""
        with self._lock:
            delta = count - self._ib_messages_seen if count >= self._ib_messages_seen else count
            self._ib_messages_seen = count
        if delta > 0:
            self._ib_messages.inc(delta)

    def set_audit_backlog(self, records: int) -> None:
        self._audit_backlog.set(records)

    def set_audit_oldest_unsent(self, at: datetime | None) -> None:
        """The time of the oldest audit record not yet in the database; None when it has them all."""
        with self._lock:
            self._audit_oldest_at = at

    def set_audit_outage_threshold(self, seconds: float) -> None:
        self._audit_page_after.set(seconds)

    def set_broker_connected(self, connected: bool) -> None:
        self._broker_connected.set(1 if connected else 0)

    def feed_error(self, source: str, kind: str) -> None:
        """One failed request to a price source (``kind``: a FeedErrorKind value)."""
        self._feed_errors.labels(source=_label(source, PRICE_SOURCES, "price source"),
                                 kind=_label(kind, FEED_ERROR_KINDS, "feed error kind")).inc()

    def alert_delivery(self, channel: str, outcome: Delivery) -> None:
        """What became of one alert on one channel (a gateways.alerts.DeliveryRecorder)."""
        if outcome is Delivery.SUPPRESSED:
            self._alerts_suppressed.inc()
            return
        self._alert_deliveries.labels(channel=channel, outcome=_label(outcome, ALERT_OUTCOMES, "alert outcome")).inc()

    # -- helpers -------------------------------------------------------------------------------
    def _audit_oldest_age_now(self) -> float:
        with self._lock:
            clock, at = self._clock, self._audit_oldest_at
        if clock is None or at is None:
            return 0.0
        return max((clock.now() - at).total_seconds(), 0.0)

    def _quote_age_now(self) -> float:
        with self._lock:
            clock, at = self._clock, self._quote_at
        if clock is None or at is None:
            return 0.0  # not started: there is no session whose feed could be stale
        return max((clock.now() - at).total_seconds(), 0.0)

    @staticmethod
    def _one_hot(gauge: Gauge, label: str, current: str, allowed: tuple[str, ...]) -> None:
        for value in allowed:
            gauge.labels(**{label: value}).set(1 if value == current else 0)


@dataclass
class MetricsServer:
    """The /metrics HTTP endpoint; ``close()`` stops it. A disabled one (port 0 in the config) does nothing."""

    host: str
    port: int
    _httpd: Any = None
    _thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return self._httpd is not None

    @property
    def url(self) -> str | None:
        return f"http://{self.host}:{self.port}/metrics" if self.enabled else None

    def close(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._httpd = None

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_metrics(metrics: Metrics, host: str = "127.0.0.1", port: int = 0) -> MetricsServer:
    """Serve ``metrics`` on host:port in a daemon thread; port 0 binds a free port (tests)."""
    httpd, thread = start_wsgi_server(port, addr=host, registry=metrics.registry)
    return MetricsServer(host, httpd.server_port, httpd, thread)


class MetricsEndpointError(Exception):
    """The endpoint could not be opened; the message is one line saying what to change."""


def start_metrics_server(metrics: Metrics, host: str = "127.0.0.1", port: int = 9478) -> MetricsServer:
    """The service's endpoint from the settings (metrics_host, metrics_port); port 0 disables it.

    Raises MetricsEndpointError when the address cannot be bound (e.g. another cleanup-manager holds it)."""
    if port == 0:
        return MetricsServer(host, 0)
    try:
        return serve_metrics(metrics, host, port)
    except OSError as error:
        raise MetricsEndpointError(_endpoint_error(host, port, error)) from error


def _endpoint_error(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        reason = "is already in use (another cleanup-manager?): stop it or set metrics_port"
    else:
        reason = f"cannot be opened ({error.strerror or error}): set metrics_host or metrics_port"
    return f"metrics endpoint {host}:{port} {reason}; 0 disables the endpoint"
