"""A real Prometheus server scrapes a running `cleanup-manager simulate`; every dashboard query must
return data through Prometheus' HTTP API, and the alert rules must load and evaluate.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_metrics_support import ROOT, panel_queries

MISSING = ("prometheus is not installed: run scripts/test-services.sh "
           "(installs Debian's prometheus package, which the dashboard tests need)")
SCRAPES_BEFORE_QUERYING = 6  # enough 1 s samples for rate() and increase() over the 30 s window
QUERY_DEADLINE_SECONDS = 20.0
SCENARIO = json.loads((ROOT / "simulation" / "scenarios" / "default.json").read_text())
# The built-in afternoon runs from 15:20 ET; at 20 virtual seconds a second its five positions are
# all still open (the first closes at T-5, 105 s in) while the tests query.
SPEED = 20


def scenario_contracts() -> set[str]:
    day = SCENARIO["date"].replace("-", "")
    return {f"{p['symbol']} {day} {p['strike']:g}{p['right']}" for p in SCENARIO["positions"]}


@pytest.fixture(scope="module")
def scrape_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """host:port of a running `cleanup-manager simulate` whose positions are being assessed."""
    workdir, port = tmp_path_factory.mktemp("simulate"), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEANUP_")}
    env.update({"CLEANUP_DATA_DIR": str(workdir), "CLEANUP_METRICS_PORT": str(port)})
    log = workdir / "simulate.out"
    with log.open("wb") as output:
        simulation = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "simulate", "--quiet", "--speed", str(SPEED)],
            env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "cleanup_position_moneyness_ratio{" not in _scrape(port):
            if simulation.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"simulate never exported position metrics on port {port}:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        simulation.terminate()
        simulation.wait(timeout=60)


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

    def query(self, expr: str) -> list[dict[str, Any]]:
        reply = _get(f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
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
def prometheus(scrape_target: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail(MISSING)  # fail, not skip: the dashboards must never go unchecked
    workdir = tmp_path_factory.mktemp("prometheus")
    config = workdir / "prometheus.yml"
    # JSON is YAML: the config of prometheus/prometheus.yml with a 1 s scrape and our alert rules.
    config.write_text(json.dumps({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ROOT / "prometheus" / "alerts.yml")],
        "scrape_configs": [{"job_name": "cleanup-manager", "static_configs": [{"targets": [scrape_target]}]}],
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


def test_every_dashboard_query_returns_data(prometheus: PrometheusServer) -> None:
    pending = panel_queries()
    assert pending
    end = time.monotonic() + QUERY_DEADLINE_SECONDS
    while pending and time.monotonic() < end:  # a counter may need one more scrape to show an increase
        pending = [(board, title, expr) for board, title, expr in pending if not prometheus.query(expr)]
        if pending:
            time.sleep(1.0)
    assert [f"{board} / {title}: {expr}" for board, title, expr in pending] == []


def test_per_position_series_reach_prometheus_with_bounded_labels(prometheus: PrometheusServer) -> None:
    for series in ("cleanup_position_moneyness_ratio", "cleanup_position_itm_probability_ratio"):
        contracts = {r["metric"]["contract"] for r in prometheus.query(series)}
        assert contracts == scenario_contracts(), series  # one series per open position, nothing else


def test_alert_rules_load_and_evaluate_against_live_data(prometheus: PrometheusServer) -> None:
    end = time.monotonic() + 10
    while True:
        groups = _get(f"{prometheus.url}/api/v1/rules")["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        evaluated = [rule for rule in rules if rule.get("lastEvaluation", "").startswith("20")]
        if len(evaluated) == len(rules) or time.monotonic() > end:
            break
        time.sleep(0.5)
    assert len(rules) == 8
    assert [(rule["name"], rule.get("lastError")) for rule in rules if rule["health"] != "ok"] == []
