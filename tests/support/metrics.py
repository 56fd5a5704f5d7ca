"""Shared by the dashboard and Prometheus tests: a scripted session over the whole Metrics API (so
every exported series exists when the dashboards are checked against a scrape), the dashboards'
queries, and PromQL metric-name extraction (plus the tests of those helpers themselves).
"""

from __future__ import annotations

import inspect
import json
import re
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from domain.alerts import Delivery
from domain.mode import Mode
from domain.model import OptionContract
from domain.policy import Assessment, StageAction
from domain.risk import RiskLevel
from domain.settlement import SessionCounts
from domain.stages import Stage
from gateways.alerts import THROTTLED
from gateways.metrics import Metrics
from runtime.clock import VirtualClock

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = ROOT / "grafana" / "provisioning" / "dashboards" / "cleanup-manager"

# What Grafana substitutes for its built-in interval variables; the values are ones a short test
# history can cover (1 s scrapes: a 30 s window holds enough samples for rate and increase).
GRAFANA_INTERVALS = {"$__rate_interval": "30s", "$__interval": "5s", "$__range": "1h"}


# -- dashboards ---------------------------------------------------------------------------------
def dashboard_files() -> list[Path]:
    return sorted(DASHBOARD_DIR.glob("*.json"))


def load_dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, PromQL with Grafana's interval variables substituted)."""
    found = []
    for path in dashboard_files():
        for panel in all_panels(load_dashboard(path)):
            for target in panel.get("targets", []):
                found.append((path.name, panel["title"], grafana_substitute(target["expr"])))
    return found


def grafana_substitute(expr: str) -> str:
    for variable, value in GRAFANA_INTERVALS.items():
        expr = expr.replace(variable, value).replace("${" + variable[1:] + "}", value)
    if "$" in expr:
        raise ValueError(f"unknown Grafana variable in {expr!r}")
    return expr


# -- PromQL -------------------------------------------------------------------------------------
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
             "group_right", "inf", "nan", "atan2"}
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords or labels."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery durations
    text = _GROUPING.sub(" ", text)  # label lists of aggregations and vector matching
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if not call and name.lower() not in _KEYWORDS:
            names.add(name)
    return names


# -- the live endpoint --------------------------------------------------------------------------
def scrape_sample_names(url: str) -> set[str]:
    """Series names exactly as Prometheus stores them (with _total, _bucket, _count, _sum, _created)."""
    body = urllib.request.urlopen(url, timeout=5).read().decode()
    return {sample.name for family in text_string_to_metric_families(body) for sample in family.samples}


class CallRecorder:
    """Wraps Metrics and remembers which public methods were called, so coverage is checked, not assumed."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self.called: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._metrics, name)
        if callable(attribute) and not name.startswith("_"):
            self.called.add(name)
        return attribute


def public_methods() -> set[str]:
    return {name for name, _ in inspect.getmembers(Metrics, inspect.isfunction) if not name.startswith("_")}


CLOCK = VirtualClock(datetime(2026, 11, 27, 17, 55, 10, tzinfo=UTC))  # 290 s before the early close
OPEN = ["SPY 20261127 635C", "SPY 20261127 640P", "SPY 20261127 650C"]


def _assessment(key: str, moneyness: float, probability: float, level: RiskLevel) -> Assessment:
    return Assessment(OptionContract.parse_key(key), 1, 635.0, moneyness, 0.5, probability, level, Stage.T5,
                      StageAction.WATCH, 4.0, 1.0, 0.15)


def session_setup(m: Metrics | CallRecorder) -> None:
    """Start of an expiration afternoon in active mode at T-5 with three open positions."""
    m.set_up()
    for actor in ("price_feed", "position_poller", "risk_assessor", "executor"):
        m.register_actor(actor)
    m.set_mode(Mode.ACTIVE)
    m.set_kill_switch(False)
    m.set_breaker_open(False)
    m.set_price_source("thetadata")
    m.set_time_to_close(290.0, Stage.T5)
    m.record_positions(Stage.T5, OPEN + ["SPY 20261127 600P"], [
        _assessment("SPY 20261127 635C", 0.004, 0.72, RiskLevel.HIGH),
        _assessment("SPY 20261127 640P", 0.002, 0.61, RiskLevel.HIGH),
        _assessment("SPY 20261127 650C", -0.012, 0.05, RiskLevel.LOW),
        _assessment("SPY 20261127 600P", -0.06, 0.0, RiskLevel.LOW)])
    m.record_positions(Stage.T5, OPEN, [])  # 600P went away; a pass with a stale spot keeps the rest
    m.set_audit_backlog(0)
    m.set_audit_outage_threshold(300.0)
    m.set_broker_connected(True)
    m.use_clock(CLOCK)
    m.quote_received(CLOCK.now())
    m.ib_messages_sent(10)


def session_tick(m: Metrics | CallRecorder, n: int) -> None:
    """One second of activity: orders flow, quotes age, the supervisor restarts an actor now and then."""
    m.closing_attempt()
    m.order_submitted()
    m.order_filled(0.01 * (n % 4) - 0.01, contracts=1 + n % 2)  # -0.01 is price improvement
    if n % 3 == 0:
        m.order_rejected()
        m.order_cancelled()
    if n % 5 == 0:
        m.actor_restarted("executor")
        m.record_settlement(SessionCounts(prevented=2, left_in_the_money=n % 2, false_positives=1, closed=3))
    if n % 7 == 0:
        m.supervisor_escalated()
        m.feed_error("thetadata", "outage")
        m.alert_delivery("json#1", Delivery.SENT if n % 2 else Delivery.FAILED)
        m.alert_delivery(THROTTLED, Delivery.SUPPRESSED)
    CLOCK.advance(1.0)
    m.quote_received(CLOCK.now() - timedelta(seconds=0.2 + (n % 3) * 0.3))
    m.set_audit_backlog(n % 4)
    m.set_audit_oldest_unsent(CLOCK.now() - timedelta(seconds=n % 4) if n % 4 else None)
    m.ib_messages_sent(10 + 6 * n)
    m.set_time_to_close(290.0 - n, Stage.T5)


def exercise_every_method(metrics: Metrics) -> CallRecorder:
    recorder = CallRecorder(metrics)
    session_setup(recorder)
    for n in range(8):
        session_tick(recorder, n)
    return recorder


# -- tests of the helpers -----------------------------------------------------------------------
def test_metric_names_ignores_functions_labels_keywords_and_durations() -> None:
    expr = ('histogram_quantile(0.9, sum by (le) (increase(cleanup_slippage_dollars_bucket{job="x"}[5m])))'
            ' / on (instance) group_left (mode) cleanup_mode{mode="active"} > bool 1 or vector(0)'
            ' and count by (job) (cleanup_a_total offset 5m) unless max(cleanup_b) * 1e3')
    assert metric_names(expr) == {"cleanup_slippage_dollars_bucket", "cleanup_mode", "cleanup_a_total", "cleanup_b"}


def test_grafana_intervals_are_substituted() -> None:
    assert grafana_substitute("rate(x[$__rate_interval]) + increase(y[${__range}])") == "rate(x[30s]) + increase(y[1h])"


def test_the_scripted_session_calls_every_public_method() -> None:
    recorder = exercise_every_method(Metrics(process_collectors=False))
    assert recorder.called == public_methods()
