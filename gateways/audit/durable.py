"""DurableAuditLog: acknowledge a record once it is on local disk, deliver it to the store later.

append() stamps the log's run id on the record, writes one JSON line to the spool and fsyncs it: from
then on the record survives a crash. drain() pushes the backlog to the store in spool order and moves
the committed offset after each transaction; deliver_soon() has the courier thread do it (or drains
here, for a deterministic simulation). A database that is down or hung costs nothing but a growing
backlog: drain() keeps every record, backs off, reconnects through store_factory, and never raises.
Corrupt lines are logged once with their line number, copied to rejected.jsonl and skipped; so is a
record the store refuses (gateways.audit.dialects says which errors are refusals). finish() is the
shutdown: one more attempt whatever the backoff, and one line on what stays in the spool.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from domain.audit import SERVICE_RUN, ActionRecord, AssessmentRecord, action_id_for
from domain.evening import EveningRecord
from gateways.audit.courier import Courier
from gateways.audit.protocol import AuditStore, RecordRejected, StoreUnavailable
from gateways.audit.spool import Entry, Position, Spool
from gateways.private_files import open_private

log = logging.getLogger(__name__)
REJECTED = "rejected.jsonl"
OLDEST_LOOKAHEAD = 8  # lines read past corrupt ones to find the oldest record's time
FINAL_BATCH = 5_000
# Longer than one attempt can take against a hung PostgreSQL (factory: connect 5 s, answer 15 s).
FINISH_TIMEOUT_SECONDS = 25.0


Record = ActionRecord | AssessmentRecord | EveningRecord


def encode(record: Record) -> bytes:
    if isinstance(record, ActionRecord):
        return json.dumps({"kind": "action", "record": record.to_json_dict()}, default=str).encode()
    if isinstance(record, EveningRecord):
        return json.dumps({"kind": "evening", "record": record.to_json_dict()}).encode()
    data = asdict(record)
    data["at"] = record.at.isoformat()
    return json.dumps({"kind": "assessment", "record": data}, default=str).encode()


def decode(line: bytes) -> Record:
    """Raises ValueError (or KeyError/TypeError) for a line that is not a record."""
    envelope = json.loads(line)
    kind, data = envelope["kind"], envelope["record"]
    if kind == "action":
        return ActionRecord.from_json_dict(data)
    if kind == "evening":
        return EveningRecord.from_json_dict(data)
    if kind == "assessment":
        return AssessmentRecord(**{**data, "at": datetime.fromisoformat(data["at"])})
    raise ValueError(f"unknown record kind {kind!r}")


@dataclass
class _Run:
    """Consecutive records of one kind, inserted in one transaction; end is where the spool commits after."""

    kind: type | None
    end: Position
    entries: list[Entry] = field(default_factory=list)  # every line consumed, corrupt ones included
    pairs: list[tuple[Entry, Any]] = field(default_factory=list)  # the decoded records with their lines

    @property
    def records(self) -> list[Any]:
        return [record for _, record in self.pairs]


class DurableAuditLog:
    def __init__(self, spool_dir: Path, store_factory: Callable[[], AuditStore], *, rotate_bytes: int = 1 << 20,
                 backoff_initial: float = 1.0, backoff_max: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic, run_id: str = SERVICE_RUN,
                 deliver_in_background: bool = True) -> None:
        self._spool = Spool(Path(spool_dir), rotate_bytes)
        self._factory = store_factory
        self._store: AuditStore | None = None
        self._backoff_initial, self._backoff_max, self._monotonic = backoff_initial, backoff_max, monotonic
        self._delay = 0.0
        self._next_attempt = 0.0
        self._drain_lock = threading.Lock()
        self._reported: set[tuple[int, int]] = set()
        self.run_id = run_id
        self.last_error = ""  # why the store was last unavailable; empty once it takes records again
        self._courier = Courier(self.drain) if deliver_in_background else None

    @property
    def spool_directory(self) -> Path:
        return self._spool.directory

    def append(self, record: Record) -> None:
        """Durable on return (fsync'd), stamped with this log's run id; raises OSError only if the disk fails."""
        if record.run_id != self.run_id:
            # A record's id may be derived from what it is about (a fill's execId) so that writing it again
            # after a fault keeps one; in a run of its own it is namespaced by the run, or two simulations
            # sharing a store (whose paper brokers number executions alike) would keep only the first's.
            record = replace(record, run_id=self.run_id)
            if isinstance(record, ActionRecord):
                record = replace(record, action_id=action_id_for(f"{self.run_id}|{record.action_id}"))
        self._spool.append(encode(record))

    def backlog(self) -> int:
        """Records not yet confirmed in the database."""
        return self._spool.pending()

    def oldest_unsent(self) -> datetime | None:
        """The time of the oldest record not yet in the database (None: the store has everything)."""
        for entry in self._spool.read(OLDEST_LOOKAHEAD):
            with contextlib.suppress(ValueError, KeyError, TypeError):  # a corrupt line is set aside by drain
                record = decode(entry.data)
                return record.recorded_at if isinstance(record, EveningRecord) else record.at
        return None

    def unsent_records(self) -> list[Record]:
        """Every record still waiting in the spool, in order (corrupt lines left out)."""
        records = []
        for entry in self._spool.read(self.backlog() + 1):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                records.append(decode(entry.data))
        return records

    def evening(self, session_day: date) -> EveningRecord | None:
        """This run's evening record of a session: the newest still in the spool, else the store's. Raises
        StoreUnavailable when the spool has none and the store cannot be asked (try again later)."""
        spooled = [r for r in self.unsent_records() if isinstance(r, EveningRecord) and r.session_day == session_day]
        if spooled:
            return max(spooled, key=lambda record: record.recorded_at)
        with self._drain_lock:
            try:
                return self._connected().evening(session_day, self.run_id)
            except StoreUnavailable:
                self._drop_store()
                raise

    def deliver_soon(self) -> None:
        """Deliver the backlog: on the courier's thread (never blocks), or here and now without one."""
        if self._courier is not None:
            self._courier.wake()
        else:
            self.drain()

    def drain(self, max_records: int = 500, *, regardless_of_backoff: bool = False) -> int:
        """Push up to max_records of the backlog, in order; return how many reached the store. Never raises.

        Waits for a drain in progress on another thread. While the store is unavailable, attempts are
        spaced by the backoff unless regardless_of_backoff (the final drain at shutdown).
        """
        with self._drain_lock:
            if not regardless_of_backoff and self._monotonic() < self._next_attempt:
                return 0
            try:
                delivered = self._drain(max_records)
            except Exception as error:  # noqa: BLE001 (the audit path must never take its caller down)
                self._failed(error)
                return 0
            self.last_error = ""
            return delivered

    def finish(self, timeout: float = FINISH_TIMEOUT_SECONDS) -> int:
        """At shutdown: stop the courier, try the store once more whatever the backoff, close.

        Returns how many records remain in the spool, and says so in one log line. backlog() and
        unsent_records() still answer afterwards (they read the spool's files), e.g. for a summary.
        """
        stuck = self._courier is not None and not self._courier.stop(timeout)
        if stuck:
            self.last_error = f"the store gave no answer within {timeout:.0f} s"
        else:
            before = self.backlog() + 1
            while 0 < self.backlog() < before:  # batch after batch, until one makes no progress
                before = self.backlog()
                self.drain(max_records=FINAL_BATCH, regardless_of_backoff=True)
        remaining = self.backlog()
        if remaining:
            log.warning("audit: %d record(s) remain in the spool %s, not yet in the store (%s)", remaining,
                        self._spool.directory, self.last_error or "unknown error")
        else:
            log.info("audit: every record is in the store")
        self._close(wait=0.0 if stuck else timeout)
        return remaining

    def close(self) -> None:
        """Stop delivering and close, without a final drain (finish() drains first)."""
        stuck = self._courier is not None and not self._courier.stop(FINISH_TIMEOUT_SECONDS)
        self._close(wait=0.0 if stuck else FINISH_TIMEOUT_SECONDS)

    # -- internals ---------------------------------------------------------------------------------

    def _close(self, wait: float) -> None:
        if not self._drain_lock.acquire(timeout=wait):
            return  # a drain is stuck in the store on the courier's (daemon) thread: leave it to the exit
        try:
            self._drop_store()
            self._spool.close()
        finally:
            self._drain_lock.release()

    def _drain(self, max_records: int) -> int:
        runs = self._runs(self._spool.read(max_records))
        delivered = 0
        for run in runs:
            if run.records:
                delivered += self._deliver(run)
            self._spool.commit(run.end, len(run.entries))
        if delivered:
            self._delay = 0.0
        return delivered

    def _runs(self, entries: list[Entry]) -> list[_Run]:
        runs: list[_Run] = []
        for entry in entries:
            try:
                record = decode(entry.data)
            except (ValueError, KeyError, TypeError) as error:
                self._reject(entry, f"corrupt spool line: {type(error).__name__}: {error}")
                record = None
            kind = type(record) if record is not None else None
            if runs and (kind is None or runs[-1].kind in (None, kind)):
                run = runs[-1]
                run.kind = run.kind or kind
            else:
                run = _Run(kind, entry.end)
                runs.append(run)
            run.end = entry.end
            run.entries.append(entry)
            if record is not None:
                run.pairs.append((entry, record))
        return runs

    def _deliver(self, run: _Run) -> int:
        """Insert one run; on a refused batch, insert one by one and set the refused records aside."""
        store = self._connected()
        try:
            self._insert(store, run.records)
            return len(run.records)
        except RecordRejected:
            pass  # one bad record refused the batch: find it by inserting one at a time
        delivered = 0
        for entry, record in run.pairs:
            try:
                self._insert(store, [record])
                delivered += 1
            except RecordRejected as error:
                self._reject(entry, f"refused by the database: {error}")
        return delivered

    @staticmethod
    def _insert(store: AuditStore, records: list[Any]) -> None:
        if isinstance(records[0], ActionRecord):
            store.insert_actions(records)
        elif isinstance(records[0], EveningRecord):
            store.insert_evenings(records)
        else:
            store.insert_assessments(records)

    def _connected(self) -> AuditStore:
        if self._store is None:
            store = self._factory()
            try:
                store.migrate()  # a database recreated while we were away gets its tables back
            except Exception:
                store.close()
                raise
            self._store = store
            if self._delay:
                log.warning("audit store reachable again; draining a backlog of %d records", self.backlog())
        return self._store

    def _failed(self, error: Exception) -> None:
        self.last_error = str(error)
        self._drop_store()
        self._delay = min(self._backoff_max, self._delay * 2 if self._delay else self._backoff_initial)
        self._next_attempt = self._monotonic() + self._delay
        log.warning("audit store unavailable (%s); %d records kept in the spool, retrying in %.0fs",
                    error, self.backlog(), self._delay)

    def _drop_store(self) -> None:
        if self._store is not None:
            # Closing a broken connection may fail; it is gone either way.
            with contextlib.suppress(Exception):
                self._store.close()
            self._store = None

    def _reject(self, entry: Entry, reason: str) -> None:
        key = (entry.segment, entry.line_number)
        if key in self._reported:
            return
        self._reported.add(key)
        log.error("audit spool: %s skipped: %s", entry.where, reason)
        with open_private(self._spool.directory / REJECTED) as handle:
            handle.write(json.dumps({"where": entry.where, "reason": reason,
                                     "line": entry.data.decode("utf-8", "replace")}).encode() + b"\n")

