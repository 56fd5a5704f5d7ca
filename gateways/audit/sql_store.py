"""One audit store for both dialects: migrations, idempotent inserts, reads by time."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, Literal

from domain.audit import SERVICE_RUN, ActionRecord, AssessmentRecord
from domain.evening import EveningRecord
from gateways.audit.dialects import MIGRATIONS_TABLE, Dialect
from gateways.audit.protocol import RecordRejected, StoreUnavailable
from gateways.audit.rows import (
    ACTION_COLUMNS,
    ASSESSMENT_COLUMNS,
    action_from_row,
    action_params,
    assessment_params,
    aware,
)

log = logging.getLogger(__name__)
MIGRATION_NAME = re.compile(r"^\d{3}_[a-z0-9_]+\.sql$")
# Serialises concurrent `db migrate` runs on PostgreSQL (any constant shared by all our processes).
MIGRATION_LOCK_KEY = 0x4C4D_4947


def _one_line(text: str) -> str:
    return " ".join(text.split())


class SqlAuditStore:
    def __init__(self, connection: Any, dialect: Dialect, redact: Callable[[str], str] = _one_line) -> None:
        self._connection = connection
        self.dialect = dialect
        self._redact = redact  # removes the password from driver messages before they travel anywhere
        mark = dialect.placeholder
        action_names = ", ".join(column for column, _ in ACTION_COLUMNS)
        self._insert_action = (f"INSERT INTO alm_reporting.cleanup_actions ({action_names}) VALUES "
                               f"({', '.join([mark] * len(ACTION_COLUMNS))}) ON CONFLICT (action_id) DO NOTHING")
        self._insert_assessment = (
            f"INSERT INTO alm_reporting.risk_assessments ({', '.join(ASSESSMENT_COLUMNS)}) VALUES "
            f"({', '.join([mark] * len(ASSESSMENT_COLUMNS))}) "
            "ON CONFLICT (contract_key, assessed_at, run_id) DO NOTHING")
        select = f"SELECT {action_names} FROM alm_reporting.cleanup_actions WHERE run_id = {mark}"
        self._select_actions = (f"{select} AND action_timestamp >= {mark} AND action_timestamp < {mark} "
                                "ORDER BY action_timestamp, id")
        self._select_run = f"{select} ORDER BY action_timestamp, id"
        # A replayed (older) record of a session never overwrites the newer one a restart after the close took.
        self._upsert_evening = (
            "INSERT INTO alm_reporting.expiry_evenings (session_date, run_id, recorded_at, account, record) "
            f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark}) ON CONFLICT (session_date, run_id) DO UPDATE SET "
            "recorded_at = excluded.recorded_at, account = excluded.account, record = excluded.record "
            "WHERE excluded.recorded_at >= alm_reporting.expiry_evenings.recorded_at")
        self._select_evening = (f"SELECT record FROM alm_reporting.expiry_evenings WHERE session_date = {mark} "
                                f"AND run_id = {mark}")

    # -- the AuditStore protocol -------------------------------------------------------------------

    def migrate(self) -> list[str]:
        files = sorted(path for path in self.dialect.migrations_dir.glob("*.sql") if MIGRATION_NAME.match(path.name))
        applied_now: list[str] = []
        with self._guard():
            self._transaction(lambda: [self._execute(statement) for statement in self.dialect.bootstrap])
            for path in files:
                if self._transaction(functools.partial(self._apply, path)):
                    applied_now.append(path.name)
                    log.info("audit store: applied migration %s (%s)", path.name, self.dialect.name)
        return applied_now

    def insert_actions(self, records: Sequence[ActionRecord]) -> int:
        with self._guard():  # a record that cannot even become a row is refused like one the database refuses
            rows = [action_params(record, self.dialect.encoders) for record in records]
            return self._transaction(lambda: sum(self._execute(self._insert_action, row) for row in rows))

    def insert_assessments(self, records: Sequence[AssessmentRecord]) -> int:
        with self._guard():
            rows = [assessment_params(record, self.dialect.encoders) for record in records]
            return self._transaction(lambda: sum(self._execute(self._insert_assessment, row) for row in rows))

    def insert_evenings(self, records: Sequence[EveningRecord]) -> int:
        encoders = self.dialect.encoders
        with self._guard():
            rows = [(encoders.day(r.session_day), r.run_id, encoders.timestamp(aware(r.recorded_at)), r.account[:50],
                     json.dumps(r.to_json_dict(), sort_keys=True)) for r in records]
            return self._transaction(lambda: sum(self._execute(self._upsert_evening, row) for row in rows))

    def evening(self, session_day: date, run_id: str = SERVICE_RUN) -> EveningRecord | None:
        rows = self.query(self._select_evening, (self.dialect.encoders.day(session_day), run_id))
        if not rows:
            return None
        record = rows[0]["record"]
        return EveningRecord.from_json_dict(record if isinstance(record, dict) else json.loads(record))

    def actions(self, start: datetime, end: datetime, run_id: str = SERVICE_RUN) -> list[ActionRecord]:
        encode = self.dialect.encoders.timestamp
        rows = self.query(self._select_actions, (run_id, encode(aware(start)), encode(aware(end))))
        return [action_from_row(row) for row in rows]

    def run_actions(self, run_id: str) -> list[ActionRecord]:
        return [action_from_row(row) for row in self.query(self._select_run, (run_id,))]

    def close(self) -> None:
        with contextlib.suppress(*self.dialect.driver_error):
            self._connection.close()

    # -- helpers also used by reports and tests -----------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read-only query as dicts (e.g. the cleanup_summary view, the seed's queries)."""
        with self._guard():
            def read() -> list[dict[str, Any]]:
                cursor = self._connection.cursor()
                try:
                    cursor.execute(sql, tuple(params)) if params else cursor.execute(sql)
                    names = [column[0] for column in cursor.description]
                    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
                finally:
                    cursor.close()
            return self._transaction(read)

    # -- internals ---------------------------------------------------------------------------------

    def _apply(self, path: Any) -> bool:
        """Apply one migration and record it, in one transaction; False when it was applied before."""
        if self.dialect.name == "postgresql":
            self._execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        mark = self.dialect.placeholder
        cursor = self._connection.cursor()
        try:
            cursor.execute(f"SELECT 1 FROM {MIGRATIONS_TABLE} WHERE name = {mark}", (path.name,))
            if cursor.fetchone():
                return False
        finally:
            cursor.close()
        self.dialect.run_script(self._connection, path.read_text())
        self._execute(f"INSERT INTO {MIGRATIONS_TABLE} (name) VALUES ({mark}) ON CONFLICT (name) DO NOTHING",
                      (path.name,))
        return True

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = self._connection.cursor()
        try:
            cursor.execute(sql, tuple(params)) if params else cursor.execute(sql)
            return max(cursor.rowcount, 0)
        finally:
            cursor.close()

    def _transaction(self, work: Callable[[], Any]) -> Any:
        if self.dialect.begin:
            self._connection.execute(self.dialect.begin)
        try:
            result = work()
        except BaseException:
            # If the connection is gone, the transaction went with it.
            with contextlib.suppress(*self.dialect.driver_error):
                self._connection.rollback()
            raise
        self._connection.commit()
        return result

    def _guard(self) -> _ErrorTranslation:
        return _ErrorTranslation(self.dialect, self._redact)


class _ErrorTranslation:
    """Errors become StoreUnavailable (retry later) or RecordRejected (the data is bad) by the dialect's table."""

    def __init__(self, dialect: Dialect, redact: Callable[[str], str]) -> None:
        self._dialect, self._redact = dialect, redact

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: Any) -> Literal[False]:
        if error is None:
            return False
        message = self._redact(f"{self._dialect.name}: {type(error).__name__}: {str(error).strip()}")
        if isinstance(error, self._dialect.unavailable):
            raise StoreUnavailable(message) from None
        if isinstance(error, self._dialect.refused):
            raise RecordRejected(message) from None
        return False
