"""The spool, the SQLite audit file, rejected.jsonl and the log files are the service user's alone.

Created 0600 (directories 0700) whatever the umask: tested with a permissive umask of 0o002, under
which open() and mkdir() alone would give 0664 and 0775.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from config import load_settings
from domain.audit import ActionKind, ActionRecord
from gateways.audit import DurableAuditLog
from gateways.audit.factory import open_sqlite
from runtime.logfiles import ACTIONS_FILE, ERRORS_FILE, RISK_FILE, setup_logging
from simulation import runner


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o002)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(directory: Path) -> dict[str, int]:
    return {path.name: mode(path) for path in directory.iterdir()}


def test_spool_files_rejected_records_and_their_directory(tmp_path):
    spool = tmp_path / "deep" / "spool"
    log = DurableAuditLog(spool, lambda: open_sqlite(tmp_path / "db" / "audit.sqlite3"), rotate_bytes=200)
    for number in range(5):
        log.append(ActionRecord(f"rec-{number}", datetime(2026, 11, 27, 20, tzinfo=UTC), ActionKind.WARN))
    with open(spool / "spool-00000001.jsonl", "ab") as handle:
        handle.write(b"not json\n")  # becomes a line of rejected.jsonl
    log.append(ActionRecord("rec-5", datetime(2026, 11, 27, 20, tzinfo=UTC), ActionKind.WARN))
    assert log.drain() == 6
    log.append(ActionRecord("rec-6", datetime(2026, 11, 27, 20, tzinfo=UTC), ActionKind.WARN))  # after the rotation
    assert log.finish() == 0
    assert mode(spool) == 0o700 and mode(spool.parent) == 0o700
    files = modes(spool)
    assert {"rejected.jsonl", "committed.json"} <= set(files) and "spool-00000001.jsonl" not in files  # rotated
    assert any(name.startswith("spool-") for name in files)
    assert set(files.values()) == {0o600}, files


def test_the_sqlite_audit_file_and_its_wal_and_shm(tmp_path):
    store = open_sqlite(tmp_path / "data" / "audit.sqlite3")
    store.migrate()
    store.insert_actions([ActionRecord("rec", datetime(2026, 11, 27, 20, tzinfo=UTC), ActionKind.WARN)])
    files = modes(tmp_path / "data")
    store.close()
    assert {"audit.sqlite3", "audit.sqlite3-wal", "audit.sqlite3-shm"} <= set(files)
    assert set(files.values()) == {0o600}, files
    assert mode(tmp_path / "data") == 0o700


def test_log_files_also_after_rotation(tmp_path, monkeypatch):
    monkeypatch.setattr("runtime.logfiles.MAX_BYTES", 300)
    root = logging.getLogger()
    before = list(root.handlers)
    setup_logging(tmp_path / "logs", to_stderr=False)
    try:
        for number in range(40):
            logging.getLogger("cleanup.actions").info("close SPY 20261127 635C attempt %d", number)
            logging.getLogger("cleanup.risk").info("SPY 20261127 635C moneyness %d", number)
            logging.getLogger("cleanup.test").error("failure %d", number)
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
            handler.close()
        for name in ("cleanup.actions", "cleanup.risk"):
            for handler in list(logging.getLogger(name).handlers):
                logging.getLogger(name).removeHandler(handler)
                handler.close()
    files = modes(tmp_path / "logs")
    assert {ACTIONS_FILE, RISK_FILE, ERRORS_FILE, f"{ACTIONS_FILE}.1", f"{ERRORS_FILE}.1"} <= set(files)
    assert set(files.values()) == {0o600}, files
    assert mode(tmp_path / "logs") == 0o700


def test_a_simulation_run_directory(tmp_path):
    settings = load_settings(flags={"simulation_dir": str(tmp_path / "runs")}, environ={}).settings
    run = runner.prepare_run(settings)
    assert mode(run.directory) == mode(run.directory.parent) == 0o700
