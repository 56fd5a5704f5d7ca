"""`cleanup-manager feed --check` as a separate process, against the fake Terminal and a closed port."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakes.theta_terminal import FakeThetaTerminal

REPO = Path(__file__).resolve().parents[2]


def feed_check(url: str, timeout: float = 1.0) -> subprocess.CompletedProcess:
    # A clean environment: no CLEANUP_* of the developer's may change what is checked.
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLEANUP_")}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "feed", "--check", "--set", f"thetadata_url={url}",
         "--set", f"thetadata_timeout_seconds={timeout}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def terminal():
    with FakeThetaTerminal(spy=636.0, strikes=[630.0, 635.0, 640.0]) as fake:
        yield fake


def check_with_fault(terminal: FakeThetaTerminal, fault: Callable[[], None], url: str,
                     timeout: float = 1.0) -> subprocess.CompletedProcess:
    """``feed --check`` while ``fault`` holds; the shared Terminal is healed before and after."""
    terminal.heal()
    fault()
    try:
        return feed_check(url, timeout)
    finally:
        terminal.heal()


@pytest.mark.parametrize("version", ["v2", "v3"])
def test_check_reports_spy_its_age_and_option_count(terminal, version):
    terminal.heal()
    result = feed_check(terminal.url_v2 if version == "v2" else terminal.url_v3)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.match(r"SPY bid 635\.99 ask 636\.01 mid 636\.00 at .* ET, age \d+\.\d s \(ThetaData " + version,
                    lines[0]), lines
    assert re.match(r"6 option quotes for the \d{4}-\d\d-\d\d expiration", lines[1]), lines
    assert result.stderr == ""


def test_closed_port_exits_3_with_one_line():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v2"
    result = feed_check(url)
    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"ThetaData Terminal not reachable at {url}: is the Terminal running and logged in?"]


def test_permission_exits_3_naming_the_subscription(terminal):
    result = check_with_fault(terminal, lambda: terminal.fail(471, "stock_quote"), terminal.url_v2)
    assert result.returncode == 3
    [line] = result.stderr.strip().splitlines()
    assert "PERMISSION" in line and "stocks subscription" in line


def test_disconnected_terminal_exits_3(terminal):
    result = check_with_fault(terminal, lambda: terminal.fail(474), terminal.url_v3)
    assert result.returncode == 3
    [line] = result.stderr.strip().splitlines()
    assert "474 DISCONNECTED" in line


def test_hanging_terminal_is_reported_unreachable_within_the_timeout(terminal):
    result = check_with_fault(terminal, lambda: terminal.hang("stock_quote"), terminal.url_v2, timeout=0.5)
    assert result.returncode == 3
    assert "not reachable" in result.stderr


def test_no_data_yet_is_not_a_failure(terminal):
    result = check_with_fault(terminal, lambda: terminal.fail(472), terminal.url_v2)
    assert result.returncode == 0, result.stderr
    assert "no quote yet" in result.stdout and "0 option quotes" in result.stdout
