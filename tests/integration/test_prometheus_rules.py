"""The alert rules and the example configuration pass Prometheus' own checker and rule unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "prometheus"
MISSING = "promtool is not installed: run scripts/test-services.sh (installs Debian's prometheus package)"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(MISSING)  # fail, not skip: the rules must never go unchecked
    return path


def run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=60)


def test_check_rules(promtool: str) -> None:
    result = run(promtool, "check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rule_unit_tests(promtool: str) -> None:
    result = run(promtool, "test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_example_config_is_valid(promtool: str) -> None:
    result = run(promtool, "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_has_a_unit_test() -> None:
    rules = set(_names(PROMETHEUS_DIR / "alerts.yml", "- alert: "))
    tested = set(_names(PROMETHEUS_DIR / "alerts_test.yml", "alertname: "))
    assert rules and rules <= tested, f"rules without a promtool test: {sorted(rules - tested)}"


def _names(path: Path, marker: str) -> list[str]:
    return [line.split(marker, 1)[1].strip() for line in path.read_text().splitlines() if marker in line]
