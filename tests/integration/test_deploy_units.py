"""The systemd units in deploy/: systemd itself accepts them, and the sandbox rates 2.0 or lower.

systemd is not PID 1 here, so the checks are the offline ones: `systemd-analyze verify --root=` on a
staged root (the ExecStart binary must exist in it, and the stock units for the dependency targets),
and `systemd-analyze security --offline=yes`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = ["cleanup-manager.service", "cleanup-manager.timer", "cleanup-manager-migrate.service"]
SERVICES = [unit for unit in UNITS if unit.endswith(".service")]
ANALYZE = shutil.which("systemd-analyze")
STOCK_UNITS = Path("/usr/lib/systemd/system")

needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed (scripts/test-services.sh)")


def directives(unit: str) -> list[tuple[str, str]]:
    pairs = []
    for line in (DEPLOY / unit).read_text().splitlines():
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, _, value = line.partition("=")
            pairs.append((key.strip(), value.strip()))
    return pairs


def values(unit: str, key: str) -> list[str]:
    return [value for k, value in directives(unit) if k == key]


@pytest.fixture(scope="module")
def staged_root(tmp_path_factory) -> Path:
    """A root with the units installed, their ExecStart binary, and the stock units they order after."""
    root = tmp_path_factory.mktemp("root")
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree(STOCK_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    for unit in SERVICES:
        binary = root / values(unit, "ExecStart")[0].split()[0].lstrip("/")
        binary.parent.mkdir(parents=True, exist_ok=True)
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o755)
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(DEPLOY / unit, root / "etc/systemd/system" / unit)
    return root


@needs_analyze
@pytest.mark.skipif(not STOCK_UNITS.is_dir(), reason="no stock systemd units to verify against")
def test_systemd_analyze_verify_accepts_the_units(staged_root: Path) -> None:
    paths = [str(staged_root / "etc/systemd/system" / unit) for unit in UNITS]
    result = subprocess.run([ANALYZE, "verify", f"--root={staged_root}", *paths],
                            capture_output=True, text=True, timeout=60)
    # verify exits 0 on unknown keys too, merely warning: any output at all is a failure.
    assert result.returncode == 0 and not result.stderr.strip() and not result.stdout.strip(), result.stderr


@needs_analyze
@pytest.mark.skipif(not STOCK_UNITS.is_dir(), reason="no stock systemd units to verify against")
def test_verify_would_catch_a_missing_binary(staged_root: Path) -> None:
    """Guards the check above: it really looks for ExecStart inside the staged root.

    (The unit must sit inside the root: given a path outside it, verify loads the same-named unit from
    the root instead.)
    """
    unit = staged_root / "etc/systemd/system/cleanup-manager-broken.service"
    unit.write_text((DEPLOY / "cleanup-manager.service").read_text().replace(
        "/opt/cleanup-manager/venv/bin/cleanup-manager", "/opt/nowhere/cleanup-manager"))
    try:
        result = subprocess.run([ANALYZE, "verify", f"--root={staged_root}", str(unit)],
                                capture_output=True, text=True, timeout=60)
    finally:
        unit.unlink()
    assert result.returncode != 0 and "/opt/nowhere/cleanup-manager" in result.stderr


@needs_analyze
@pytest.mark.parametrize("unit", SERVICES)
def test_security_exposure_is_at_most_two(unit: str) -> None:
    result = subprocess.run([ANALYZE, "security", "--offline=yes", "--no-pager", str(DEPLOY / unit)],
                            capture_output=True, text=True, timeout=60, cwd=DEPLOY)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", result.stdout)
    assert match, result.stdout + result.stderr
    score = float(match[1])
    print(f"\nsystemd-analyze security --offline=yes {unit}: {score} {match[2]}")
    failing = [line for line in result.stdout.splitlines() if line.startswith("✗")]
    print("\n".join(failing))
    assert score <= 2.0


def test_service_contract() -> None:
    get = lambda key: values("cleanup-manager.service", key)  # noqa: E731
    assert get("Type") == ["notify"] and get("NotifyAccess") == ["main"]
    assert get("ExecStart") == ["/opt/cleanup-manager/venv/bin/cleanup-manager run"]
    assert get("Restart") == ["on-failure"] and get("RestartSec") == ["30"]
    assert get("WatchdogSec") and get("StandardOutput") == ["journal"] and get("StandardError") == ["journal"]
    assert get("User") == ["cleanup-manager"] and get("ProtectSystem") == ["strict"]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "MemoryDenyWriteExecute"):
        assert get(key) == ["yes"], key
    assert get("StateDirectory") == ["cleanup-manager"] and get("LogsDirectory") == ["cleanup-manager"]
    assert not get("ReadWritePaths")  # writable places come only from the *Directory= settings
    env = dict(item.split("=", 1) for item in get("Environment"))
    assert env["CLEANUP_CONFIG"] == "/etc/cleanup-manager/config.json"
    assert env["CLEANUP_DATA_DIR"] == "/var/lib/cleanup-manager"
    assert env["CLEANUP_LOG_DIR"] == "/var/log/cleanup-manager"
    assert env["CLEANUP_CONTROL_SOCKET"] == "/run/cleanup-manager/control.sock"
    credentials = dict(item.split(":", 1) for item in get("LoadCredential"))
    assert credentials == {key: f"/etc/cleanup-manager/credentials/{key}"
                           for key in ("db_password", "telegram_bot_token", "alert_urls")}
    assert get("EnvironmentFile") == ["-/etc/cleanup-manager/env"]


def test_migrate_unit_runs_with_the_services_configuration_and_sandbox() -> None:
    """Migrations must open the store exactly as the service will: same user, paths, secrets, sandbox."""
    shared_from = [key for key, _ in directives("cleanup-manager.service")]
    start = shared_from.index("Environment")
    own = {"RuntimeDirectory", "RuntimeDirectoryMode", "RuntimeDirectoryPreserve"}
    service = [pair for pair in directives("cleanup-manager.service")[start:] if pair[0] not in own
               and pair[0] != "WantedBy"]
    migrate = [pair for pair in directives("cleanup-manager-migrate.service") if pair in service or
               pair[0] in {key for key, _ in service}]
    assert migrate == service
    assert values("cleanup-manager-migrate.service", "ExecStart") == [
        "/opt/cleanup-manager/venv/bin/cleanup-manager db migrate"]


def test_timer_is_weekdays_new_york_and_persistent() -> None:
    assert values("cleanup-manager.timer", "OnCalendar") == ["Mon..Fri 04:00 America/New_York"]
    assert values("cleanup-manager.timer", "Persistent") == ["true"]
    assert values("cleanup-manager.timer", "Unit") == ["cleanup-manager.service"]


MDWE_PROBE = r"""
import ctypes, mmap, sys
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1  # Linux 6.3+: what MemoryDenyWriteExecute= enforces
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
    sys.exit(77)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit("W^X not enforced: the probe proves nothing")
except OSError:
    pass
import importlib
for name in ("pykka", "ib_async", "requests", "psycopg2", "prometheus_client", "apprise",
             "exchange_calendars", "pandas", "numpy", "pydantic", "tenacity", "sdnotify", "ssl", "sqlite3"):
    importlib.import_module(name)
from datetime import date
from gateways.calendar import MarketCalendar
assert MarketCalendar().session(date(2026, 11, 27)).early_close
from config.loader import load_settings
load_settings(environ={})
import ssl; ssl.create_default_context()
import apprise; a = apprise.Apprise(); a.add("json://127.0.0.1:9/probe"); a.notify(body="probe")
import psycopg2
try:
    psycopg2.connect("host=127.0.0.1 port=9 dbname=probe connect_timeout=1")
except psycopg2.OperationalError:
    pass
import sqlite3; sqlite3.connect(":memory:").execute("select 1")
import requests
try:
    requests.get("http://127.0.0.1:9/", timeout=1)
except requests.ConnectionError:
    pass
print("ok")
"""


def test_service_libraries_work_under_memory_deny_write_execute() -> None:
    """MemoryDenyWriteExecute=yes kills a process that maps W+X memory (ctypes/cffi callbacks, JITs).

    Emulate it with prctl(PR_SET_MDWE) and run what the service does: imports, calendar, settings,
    TLS context, Apprise, PostgreSQL and HTTP connects.
    """
    result = subprocess.run([sys.executable, "-c", MDWE_PROBE], capture_output=True, text=True, timeout=120,
                            cwd=DEPLOY.parent)
    if result.returncode == 77:
        pytest.skip("kernel without PR_SET_MDWE (Linux < 6.3)")
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-2000:]
