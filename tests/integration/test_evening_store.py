"""The evening record in the audit store (both dialects) and through the durable spool: written once the session
settled, read back by the next morning's process, a newer record of a session replacing an older one."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from domain.evening import EveningRecord
from domain.model import OptionContract, Position, StockPosition
from domain.session import EASTERN
from gateways.audit.durable import DurableAuditLog
from gateways.audit.factory import open_postgresql, open_sqlite
from gateways.audit.protocol import StoreUnavailable
from tests.support.pg import pg_dsn_fixture  # noqa: F401 (fixture)

FRIDAY = date(2026, 11, 27)
AT = datetime(2026, 11, 27, 13, 0, 30, tzinfo=EASTERN)


def evening(at: datetime = AT, quantity: int = -2, run_id: str = "") -> EveningRecord:
    return EveningRecord(FRIDAY, at, (Position(OptionContract.parse_key("SPY 20261127 641P"), quantity, 1.35),),
                         (StockPosition("SPY", 200, 512.3),), {"SPY": 639.5}, account="DU1", run_id=run_id)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        store = open_sqlite(tmp_path / "audit.sqlite3")
    else:
        store = open_postgresql(request.getfixturevalue("pg_dsn"))
    store.migrate()
    yield store
    store.close()


def test_the_record_reads_back_whole_and_a_newer_one_replaces_it_but_never_an_older(store):
    assert store.evening(FRIDAY) is None
    store.insert_evenings([evening()])
    assert store.evening(FRIDAY) == evening()
    later = evening(AT + timedelta(minutes=20), quantity=-1)
    store.insert_evenings([later])
    store.insert_evenings([evening()])  # a spool replay of the first one
    assert store.evening(FRIDAY) == later
    assert store.evening(FRIDAY, "sim-other") is None


def test_through_the_spool_the_record_is_there_for_the_morning_even_with_the_store_down(tmp_path):
    down = True

    def factory():
        if down:
            raise StoreUnavailable("sqlite: the disk is away")
        return open_sqlite(tmp_path / "audit.sqlite3")

    log = DurableAuditLog(tmp_path / "spool", factory, deliver_in_background=False)
    log.append(evening())
    log.drain()
    assert log.backlog() == 1
    assert log.evening(FRIDAY) == evening()  # from the spool
    down = False
    log.drain(regardless_of_backoff=True)
    assert log.backlog() == 0
    log.finish()
    morning = DurableAuditLog(tmp_path / "spool", factory, deliver_in_background=False)  # a new process
    assert morning.evening(FRIDAY) == evening()  # from the store
    assert morning.evening(FRIDAY + timedelta(days=3)) is None
    morning.finish()
