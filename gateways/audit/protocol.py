"""The audit store interface the AuditLogger codes against, and the two ways a write can fail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from domain.audit import SERVICE_RUN, ActionRecord, AssessmentRecord
from domain.evening import EveningRecord


class StoreUnavailable(Exception):
    """The database cannot be reached now (down, restarting, network): retry later, keep the records."""


class RecordRejected(Exception):
    """The database refused the data itself (not the connection): retrying the same batch cannot help."""


class AuditStore(Protocol):
    def migrate(self) -> list[str]:
        """Apply pending migrations in order; return the names applied now (empty when up to date)."""

    def insert_actions(self, records: Sequence[ActionRecord]) -> int:
        """Insert in one transaction, skipping action ids already stored; return the rows inserted."""

    def insert_assessments(self, records: Sequence[AssessmentRecord]) -> int:
        """Insert in one transaction, skipping (contract, time, run) samples already stored; return rows inserted."""

    def insert_evenings(self, records: Sequence[EveningRecord]) -> int:
        """Insert or replace each session's evening record (a newer one of a session wins); return rows written."""

    def evening(self, session_day: date, run_id: str = SERVICE_RUN) -> EveningRecord | None:
        """The evening record of one session (None when none was taken: the service was not running then)."""

    def actions(self, start: datetime, end: datetime, run_id: str = SERVICE_RUN) -> list[ActionRecord]:
        """One run's actions with start <= time < end, ordered by time (then by insertion).

        The default run is the service's own: a simulation written to the same store is not trading.
        """

    def run_actions(self, run_id: str) -> list[ActionRecord]:
        """Every action of one run (a simulation's run id), ordered by time (then by insertion)."""

    def close(self) -> None: ...
