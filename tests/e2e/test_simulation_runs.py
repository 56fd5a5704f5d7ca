"""Each `simulate` run has a run id and a store of its own; its summary and `report --run` show it alone.

Before: simulate honoured db_dsn and data_dir (the installed wrapper points data_dir at the service's
state directory), so a simulation wrote into the production audit trail, and every rerun in the same
directory doubled the timeline (36 actions for 3 orders; `report` said 11 contracts closed for 8).
"""

from __future__ import annotations

import re

import pytest

from cli.main import main
from config import load_settings
from domain.audit import ActionKind
from gateways.audit.factory import SQLITE_FILE, open_postgresql, open_sqlite
from simulation import runner
from simulation.scenario import load_scenario
from tests.e2e.test_simulation_e2e import SCENARIOS
from tests.support.pg import pg_dsn_fixture  # noqa: F401 (fixture)

SCENARIO = "itm_long_call.json"  # long 2 x 638C, closed at T-5


def simulate(**flags):
    scenario = load_scenario(SCENARIOS / SCENARIO)
    settings = load_settings(flags={"metrics_port": 0, **flags}, environ={}).settings
    return runner.run_simulation(scenario, runner.simulation_settings(settings, scenario, None))


def contracts_filled(result) -> int:
    return sum(abs(a.quantity or 0) for a in result.actions if a.action is ActionKind.FILL)


def test_reruns_in_the_same_directory_never_double_the_timeline(tmp_path):
    flags = {"data_dir": str(tmp_path / "data"), "simulation_dir": str(tmp_path / "runs")}
    first, second = simulate(**flags), simulate(**flags)
    assert first.run and second.run and first.run.run_id != second.run.run_id
    assert first.run.directory.parent == second.run.directory.parent == tmp_path / "runs"
    assert len(second.actions) == len(first.actions) and contracts_filled(first) == contracts_filled(second) == 2
    for result in (first, second):
        assert {a.run_id for a in result.actions} == {result.run.run_id}
        store = open_sqlite(result.run.directory / SQLITE_FILE)  # every record of the run carries its id
        ids = store.query("SELECT DISTINCT run_id FROM alm_reporting.cleanup_actions")
        samples = store.query("SELECT DISTINCT run_id FROM alm_reporting.risk_assessments")
        store.close()
        assert ids == samples == [{"run_id": result.run.run_id}]


def test_a_simulation_never_writes_into_the_service_database_or_state_directory(tmp_path, pg_dsn):
    state = tmp_path / "var-lib-cleanup-manager"  # what the installed wrapper exports as CLEANUP_DATA_DIR
    state.mkdir()
    result = simulate(data_dir=str(state), db_dsn=pg_dsn, simulation_dir=str(tmp_path / "runs"))
    assert contracts_filled(result) == 2
    assert sorted(path.name for path in state.iterdir()) == []  # no spool, no audit.sqlite3, no socket left
    production = open_postgresql(pg_dsn)
    tables = production.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'alm_reporting'")
    production.close()
    assert tables == []  # never even migrated


def test_runs_sharing_a_named_store_are_summarised_and_reported_each_on_its_own(tmp_path, monkeypatch, capsys):
    shared = tmp_path / "shared"
    flags = {"data_dir": str(tmp_path / "data"), "simulation_dir": str(tmp_path / "runs"),
             "simulation_store": str(shared / SQLITE_FILE)}
    first, second = simulate(**flags), simulate(**flags)
    assert len(first.actions) == len(second.actions)
    assert {a.run_id for a in second.actions} == {second.run.run_id}
    monkeypatch.delenv("CLEANUP_CONFIG", raising=False)
    monkeypatch.delenv("CLEANUP_DB_DSN", raising=False)
    monkeypatch.setenv("CLEANUP_SIMULATION_DIR", str(tmp_path / "runs"))

    assert main(["report", "--run", second.run.run_id, "--store", str(shared / SQLITE_FILE)]) == 0
    out = capsys.readouterr().out
    assert f"Cleanup report of simulation run {second.run.run_id}" in out
    assert re.search(rf"2026-11-25 \(Wednesday\): {len(second.actions)} cleanup actions", out)
    assert "contracts closed: 2" in out  # one run's 2, not both runs' 4

    # The service's own report on that file (as if it were the service's store) holds no simulation.
    monkeypatch.setenv("CLEANUP_DATA_DIR", str(shared))
    assert main(["report", "--date", "2026-11-25"]) == 0
    assert "2026-11-25 (Wednesday): no cleanup actions" in capsys.readouterr().out


def test_report_of_a_run_in_its_own_directory_and_of_an_unknown_run(tmp_path, monkeypatch, capsys):
    result = simulate(data_dir=str(tmp_path / "data"), simulation_dir=str(tmp_path / "runs"))
    monkeypatch.delenv("CLEANUP_CONFIG", raising=False)
    monkeypatch.setenv("CLEANUP_SIMULATION_DIR", str(tmp_path / "runs"))
    assert main(["report", "--run", result.run.run_id]) == 0
    assert "contracts closed: 2" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--run", "sim-nothing-like-it"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no audit file for run 'sim-nothing-like-it'" in err[0]
