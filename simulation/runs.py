"""Where a simulation run keeps its audit trail: one rule for `simulate` (writing) and `report --run` (reading).

Each run has its own directory ``<simulation_dir>/<run id>/`` (spool, logs and, by default, the SQLite
audit file). ``simulation_store``, or ``--store`` on the command line, names another store instead; the
run id on every record keeps runs apart there.
"""

from __future__ import annotations

from pathlib import Path

from config.schema import Settings
from gateways.audit.factory import SQLITE_FILE, StoreTarget, named_target


def run_directory(settings: Settings, run_id: str) -> Path:
    return Path(settings.simulation_dir) / run_id


def run_store(settings: Settings, run_id: str, named: str | None = None) -> StoreTarget:
    """The store named (flag, then setting), else the SQLite file in the run's directory."""
    name = named or settings.simulation_store
    return named_target(name) if name else StoreTarget(sqlite_path=run_directory(settings, run_id) / SQLITE_FILE)
