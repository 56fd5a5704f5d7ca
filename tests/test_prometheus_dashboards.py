"""A real Prometheus server scrapes a live session; every dashboard query must return data through its API.

The scrape target comes from the ``scrape_target`` fixture. Today it is a scripted session over the
Metrics API (tests/test_metrics_support.py); when the simulator exports metrics, point the fixture at
``cleanup-manager simulate`` and the rest of this file stays as it is.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_metrics_support import ROOT, panel_queries, session_endpoint

MISSING = ("prometheus is not installed: run scripts/test-services.sh "
           "(installs Debian's prometheus package, which the dashboard tests need)")
SCRAPES_BEFORE_QUERYING = 6  # enough 1 s samples for rate() and increase() over the 30 s window
QUERY_DEADLINE_SECONDS = 20.0


@pytest.fixture(scope="module")
def scrape_target() -> Iterator[str]:
    """host:port of a /metrics endpoint with an expiration session in progress (swap point for the simulator)."""
    with session_endpoint() as (target, _called):
        yield target


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
    contracts = {r["metric"]["contract"] for r in prometheus.query("cleanup_position_moneyness_ratio")}
    assert contracts == {"SPY 20261127 635C", "SPY 20261127 640P", "SPY 20261127 650C"}  # 600P was removed


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
