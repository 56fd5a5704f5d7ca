"""The final drain at shutdown tries once more whatever the backoff, and says what stays spooled.

Before: shutdown drained like any tick, so a database back only moments before the exit was not
tried at all (the backoff said "later"), records stayed in the spool with exit 0, and a simulation's
summary showed the positions it had closed as OPEN.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from rich.console import Console

from config import load_settings
from domain.audit import ActionKind, ActionRecord
from domain.settlement import Outcome
from gateways.audit import DurableAuditLog, StoreUnavailable
from gateways.audit.factory import open_sqlite
from simulation import runner
from simulation.scenario import load_scenario
from simulation.summary import print_summary, summary_dict
from tests.e2e.test_simulation_e2e import SCENARIOS
from tests.support.pg import free_port

T0 = datetime(2026, 11, 27, 20, 30, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(number: int) -> ActionRecord:
    return ActionRecord(action_id=f"rec-{number:04d}", at=T0 + timedelta(seconds=number), action=ActionKind.WARN,
                        success=True)


def test_the_final_drain_ignores_the_backoff_and_delivers_everything(tmp_path, caplog):
    clock, down = FakeClock(), [True]

    def factory():
        if down[0]:
            raise StoreUnavailable("postgresql: cannot connect: connection refused")
        return open_sqlite(tmp_path / "audit.sqlite3")

    log = DurableAuditLog(tmp_path / "spool", factory, backoff_initial=60, monotonic=clock,
                          deliver_in_background=False)
    for number in range(6_000):  # more than one final batch
        log.append(record(number))
    assert log.drain() == 0  # down: the next attempt is due in 60 s
    down[0] = False  # back a moment before the exit, long before the backoff ends
    assert log.drain() == 0  # an ordinary drain still waits
    with caplog.at_level(logging.INFO):
        assert log.finish() == 0
    assert "every record is in the store" in caplog.text
    store = open_sqlite(tmp_path / "audit.sqlite3")
    assert store.query("SELECT COUNT(*) AS n FROM alm_reporting.cleanup_actions")[0]["n"] == 6_000


def test_a_store_still_down_at_the_exit_leaves_one_line_with_the_count(tmp_path, caplog):
    def factory():
        raise StoreUnavailable("postgresql: cannot connect: connection refused")

    log = DurableAuditLog(tmp_path / "spool", factory, deliver_in_background=False)
    for number in range(7):
        log.append(record(number))
    with caplog.at_level(logging.INFO, logger="gateways.audit.durable"):
        assert log.finish() == 7
    lines = [r.getMessage() for r in caplog.records if "remain" in r.getMessage()]
    assert lines == [f"audit: 7 record(s) remain in the spool {tmp_path / 'spool'}, not yet in the store "
                     "(postgresql: cannot connect: connection refused)"]
    assert len(log.unsent_records()) == 7  # still readable for the caller's summary


def test_a_simulation_whose_store_is_down_at_the_end_still_shows_what_it_closed(tmp_path, capsys):
    scenario = load_scenario(SCENARIOS / "itm_long_call.json")
    unreachable = f"host=127.0.0.1 port={free_port()} user=postgres dbname=nowhere connect_timeout=2"
    settings = load_settings(flags={"data_dir": str(tmp_path / "data"), "simulation_dir": str(tmp_path / "runs"),
                                    "simulation_store": unreachable, "metrics_port": 0}, environ={}).settings
    result = runner.run_simulation(scenario, runner.simulation_settings(settings, scenario, None))
    assert [r.outcome for r in result.results] == [Outcome.CLOSED]  # from the spool: the store never had them
    assert result.audit is not None and result.audit.unsent >= len(result.actions) > 0  # assessments too
    assert "connection refused" in result.audit.error.lower()
    data = summary_dict(result, settings.trader_tz)
    assert data["positions"][0]["outcome"] == "closed" and data["audit"]["unsent_records"] == result.audit.unsent
    print_summary(result, settings.trader_tz, Console(width=200))
    out = capsys.readouterr().out
    assert f"{result.audit.unsent} audit record(s) are not in the store, only in the spool" in out
