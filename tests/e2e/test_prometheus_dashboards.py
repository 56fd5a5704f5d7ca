"""A real Prometheus server scrapes a running `cleanup-manager simulate` to its end; every dashboard
query must return a finite value through Prometheus' HTTP API, and the alert rules must load and
evaluate.

The simulation is the built-in afternoon from 15:54 ET, so closes, fills and the settlement after the
bell (the KPI counters) all happen within about 45 s. Queries are evaluated at the last scrape
before the endpoint closed (Prometheus keeps the samples; ``time=`` evaluates as of then), so the
KPI ratios, the increases and the instant gauges all have their data.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.metrics import ROOT, panel_queries

MISSING = ("prometheus is not installed: run scripts/test-services.sh "
           "(installs Debian's prometheus package, which the dashboard tests need)")
SCRAPES_BEFORE_QUERYING = 6  # enough 1 s samples for rate() and increase() over the 30 s window
# From 15:54 ET at 10 virtual seconds a second: T-5 closes from 6 s in, T-2 from 24 s, the close at
# 36 s, the settlement at 39 s, the end at 42 s: 3 s of scrapes after the settlement.
START, SPEED = "15:54", 10
RUN_DEADLINE_SECONDS = 120.0
SCENARIO = {**json.loads((ROOT / "simulation" / "scenarios" / "default.json").read_text()), "start": START}


def scenario_contracts() -> set[str]:
    day = SCENARIO["date"].replace("-", "")
    return {f"{p['symbol']} {day} {p['strike']:g}{p['right']}" for p in SCENARIO["positions"]}


@dataclass
class Simulation:
    target: str  # host:port of its /metrics
    process: subprocess.Popen[bytes]
    log: Path


@pytest.fixture(scope="module")
def simulation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulation]:
    """A running `cleanup-manager simulate` whose positions are being assessed."""
    workdir, port = tmp_path_factory.mktemp("simulate"), _free_port()
    scenario = workdir / "scenario.json"
    scenario.write_text(json.dumps(SCENARIO))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEANUP_")}
    env.update({"CLEANUP_DATA_DIR": str(workdir), "CLEANUP_SIMULATION_DIR": str(workdir / "simulations"),
                "CLEANUP_METRICS_PORT": str(port)})
    log = workdir / "simulate.out"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "simulate", "--quiet", "--speed", str(SPEED),
             "--scenario", str(scenario)],
            env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "cleanup_position_moneyness_ratio{" not in _scrape(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"simulate never exported position metrics on port {port}:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield Simulation(f"127.0.0.1:{port}", process, log)
    finally:
        process.terminate()
        process.wait(timeout=60)


def _scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return response.read().decode()
    except OSError:
        return ""  # not serving yet


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


class PrometheusServer:
    def __init__(self, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url, self.process, self.log = url, process, log

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """The result of an instant query, evaluated now or at Unix time ``at``."""
        params = {"query": expr, **({"time": f"{at:.3f}"} if at is not None else {})}
        reply = _get(f"{self.url}/api/v1/query?{urllib.parse.urlencode(params)}")
        assert reply["status"] == "success", reply
        return reply["data"]["result"]

    def wait_until(self, condition: str, what: str, deadline: float = 30.0) -> None:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.process.poll() is not None:
                pytest.fail(f"prometheus exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if self.query(condition):
                    return
            except OSError:
                pass  # not listening yet
            time.sleep(0.25)
        pytest.fail(f"timed out waiting for {what} ({condition}):\n{self.log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def prometheus(simulation: Simulation, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail(MISSING)  # fail, not skip: the dashboards must never go unchecked
    workdir = tmp_path_factory.mktemp("prometheus")
    config = workdir / "prometheus.yml"
    # JSON is YAML: the config of prometheus/prometheus.yml with a 1 s scrape and our alert rules.
    config.write_text(json.dumps({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ROOT / "prometheus" / "alerts.yml")],
        "scrape_configs": [{"job_name": "cleanup-manager", "static_configs": [{"targets": [simulation.target]}]}],
    }))
    port = _free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=output, stderr=subprocess.STDOUT)
    server = PrometheusServer(f"http://127.0.0.1:{port}", process, log)
    try:
        server.wait_until('up{job="cleanup-manager"} == 1', "the first successful scrape")
        server.wait_until(f'count_over_time(up{{job="cleanup-manager"}}[1m]) >= {SCRAPES_BEFORE_QUERYING}',
                          f"{SCRAPES_BEFORE_QUERYING} scrapes")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def session_end(prometheus: PrometheusServer, simulation: Simulation) -> float:
    """Unix time of the last scrape of the simulated session, once it has traded and ended."""
    prometheus.wait_until("cleanup_orders_filled_total > 0", "the first fill", deadline=RUN_DEADLINE_SECONDS)
    try:
        simulation.process.wait(timeout=RUN_DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"simulate did not finish in {RUN_DEADLINE_SECONDS:.0f} s:\n{simulation.log.read_text()[-3000:]}")
    assert simulation.process.returncode == 0, simulation.log.read_text()[-3000:]
    (series,) = prometheus.query('up{job="cleanup-manager"}[10m]')
    return max(float(at) for at, up in series["values"] if up == "1")


def _finite(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(series["value"][1])) for series in result)


def test_every_dashboard_query_returns_a_finite_value(prometheus: PrometheusServer, session_end: float) -> None:
    # No exception for NaN: after a session that closed positions every ratio has a denominator.
    queries = panel_queries()
    assert queries
    failing = [f"{board} / {title}: {expr} -> {result}" for board, title, expr in queries
               if not _finite(result := prometheus.query(expr, session_end))]
    assert failing == []


def test_the_kpis_were_settled_before_the_endpoint_closed(prometheus: PrometheusServer, session_end: float) -> None:
    # The session was settled after the bell: its closes are counted, not merely exported at 0.
    (closed,) = prometheus.query("cleanup_positions_closed_total", session_end)
    assert float(closed["value"][1]) > 0


def test_per_position_series_reach_prometheus_with_bounded_labels(prometheus: PrometheusServer,
                                                                  session_end: float) -> None:
    for series in ("cleanup_position_moneyness_ratio", "cleanup_position_itm_probability_ratio"):
        ever = {r["metric"]["contract"] for r in prometheus.query(f"last_over_time({series}[10m])", session_end)}
        assert ever == scenario_contracts(), series  # one series per open position, nothing else
        at_the_end = {r["metric"]["contract"] for r in prometheus.query(series, session_end)}
        assert at_the_end < ever, series  # the closed positions' series went away


def test_alert_rules_load_and_evaluate_against_live_data(prometheus: PrometheusServer) -> None:
    end = time.monotonic() + 10
    while True:
        groups = _get(f"{prometheus.url}/api/v1/rules")["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        evaluated = [rule for rule in rules if rule.get("lastEvaluation", "").startswith("20")]
        if len(evaluated) == len(rules) or time.monotonic() > end:
            break
        time.sleep(0.5)
    assert len(rules) == 10
    assert [(rule["name"], rule.get("lastError")) for rule in rules if rule["health"] != "ok"] == []
