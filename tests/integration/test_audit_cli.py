"""`cleanup-manager db migrate`, and the database password never showing in output, errors or logs."""

from __future__ import annotations

import logging

import pytest

from cli.main import main
from gateways.audit import DurableAuditLog, StoreUnavailable, open_store
from gateways.audit.factory import open_postgresql
from tests.integration.test_audit_durable import record
from tests.support.pg import free_port, pg_dsn_fixture  # noqa: F401 (fixture)

PASSWORD = "Pw-never-shown-9731"


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in ("CLEANUP_CONFIG", "CLEANUP_DB_DSN", "CLEANUP_DB_PASSWORD", "CLEANUP_CREDENTIALS_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLEANUP_DATA_DIR", str(tmp_path))
    return monkeypatch


def test_db_migrate_on_sqlite_applies_then_reports_up_to_date(clean_env, tmp_path, capsys):
    assert main(["db", "migrate"]) == 0
    out = capsys.readouterr().out
    assert "applied 001_cleanup_actions.sql" in out and f"SQLite {tmp_path / 'audit.sqlite3'}" in out
    assert main(["db", "migrate"]) == 0
    assert "up to date, nothing to apply" in capsys.readouterr().out


def test_db_migrate_on_postgresql_with_a_password_never_prints_it(clean_env, pg_dsn, capsys):
    clean_env.setenv("CLEANUP_DB_DSN", pg_dsn)
    clean_env.setenv("CLEANUP_DB_PASSWORD", PASSWORD)  # trust auth ignores it; the DSN carries it all the same
    assert main(["db", "migrate"]) == 0
    captured = capsys.readouterr()
    assert "applied 003_cleanup_summary.sql" in captured.out and "PostgreSQL host=127.0.0.1" in captured.out
    assert PASSWORD not in captured.out + captured.err


@pytest.mark.parametrize("dsn", ["host=127.0.0.1 port={port} user=trader dbname=trading_db",
                                 "postgresql://trader:{password}@127.0.0.1:{port}/trading_db"])
def test_unreachable_database_is_one_line_without_the_password(clean_env, capsys, dsn):
    clean_env.setenv("CLEANUP_DB_DSN", dsn.format(port=free_port(), password=PASSWORD))
    clean_env.setenv("CLEANUP_DB_PASSWORD", PASSWORD)
    with pytest.raises(SystemExit) as exit_info:
        main(["db", "migrate"])
    assert exit_info.value.code == 3
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("db migrate: cannot reach the audit database (PostgreSQL ")
    assert PASSWORD not in captured.out + captured.err


def test_store_errors_and_spool_warnings_never_carry_the_password(tmp_path, caplog):
    dsn = f"postgresql://trader:{PASSWORD}@127.0.0.1:{free_port()}/trading_db"
    with pytest.raises(StoreUnavailable) as error:
        open_postgresql(dsn)
    assert PASSWORD not in str(error.value)
    assert PASSWORD not in repr(error.value) and error.value.__cause__ is None
    with caplog.at_level(logging.DEBUG):
        log = DurableAuditLog(tmp_path / "spool", lambda: open_postgresql(dsn))
        log.append(record(1))
        assert log.drain() == 0 and log.backlog() == 1
    assert "audit store unavailable" in caplog.text and PASSWORD not in caplog.text


def test_open_store_uses_sqlite_without_a_dsn(clean_env, tmp_path):
    from config import load_settings

    store = open_store(load_settings().settings)
    try:
        assert store.dialect.name == "sqlite" and store.migrate()
    finally:
        store.close()
    assert (tmp_path / "audit.sqlite3").exists()
