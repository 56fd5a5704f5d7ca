"""The evening record through the actor tree (paper broker): taken once the session settled after the bell, with
the expiring options still open, the shares held and the closing prices, and in the audit store for the morning."""

from __future__ import annotations

from datetime import timedelta

from domain.mode import Mode
from domain.model import OptionContract, Position, StockPosition
from tests.support.ib_tree import CLOSE, SESSION, SHORT_PUT, audit_store
from tests.support.paper_tree import run_paper


def test_after_the_bell_the_tree_records_what_the_morning_needs(tmp_path):
    put = Position(OptionContract.parse_key(SHORT_PUT), -2, 1.2)
    later = Position(OptionContract.parse_key("SPY 20261127 600P"), -1, 0.3)  # not expiring: not in the record
    own = StockPosition("SPY", 100, 600.0)
    run_paper(tmp_path, [put, later], start=CLOSE - timedelta(seconds=20), seconds=60, mode=Mode.MONITOR,
              stock=[own])
    record = audit_store(tmp_path).evening(SESSION.day)
    assert record is not None
    assert [(p.contract.key, p.quantity) for p in record.options] == [(SHORT_PUT, -2)]
    assert record.stock == (own,)
    assert 640 < record.closing_prices["SPY"] < 642
    assert record.recorded_at >= CLOSE + timedelta(seconds=30)


def test_before_the_bell_settles_there_is_no_record(tmp_path):
    put = Position(OptionContract.parse_key(SHORT_PUT), -2, 1.2)
    run_paper(tmp_path, [put], start=CLOSE - timedelta(seconds=20), seconds=40, mode=Mode.MONITOR)
    assert audit_store(tmp_path).evening(SESSION.day) is None
