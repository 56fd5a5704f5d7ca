"""The RiskAssessor alone: what it sends for what it is told, said once across a restart, and its status answer."""

from __future__ import annotations

from datetime import timedelta

import pytest

from actors.context import Roles
from actors.risk_assessor import RiskAssessor
from domain.alerts import Alert
from domain.audit import ActionKind
from domain.book import Book
from domain.messages import AssessorSnapshot, BookUpdate, Decisions, ManualClose, MarketUpdate, StatusQuery
from domain.policy import Close
from domain.stages import Stage
from tests.support.domain_builders import CLOSE, contract, option_quote, position, spot_quote
from tests.support.executor import Harness

SHORT_ITM, LONG_FAR = position(contract(600.0, "P"), -2), position(contract(640.0, "C"), 1)
HELD = (SHORT_ITM, LONG_FAR)
T30 = CLOSE - timedelta(minutes=20)


@pytest.fixture
def assessor(tmp_path):
    harness = Harness(RiskAssessor, tmp_path, start=T30)
    yield harness
    harness.stop()


def market(harness, spot=598.0):
    now = harness.clock.now()
    return MarketUpdate({"SPY": spot_quote(spot, now)}, {p.contract.key: option_quote(p.contract, 2.0, now)
                                                          for p in HELD}, "test", now)


def book(harness):
    return BookUpdate(Book().with_snapshot(HELD, (), harness.clock.now()))


def warns(harness):
    return [a for a in harness.audited() if a.action is ActionKind.WARN]


def test_t30_warns_once_and_t5_sends_the_close_to_the_executor(assessor):
    assessor.send(book(assessor))
    for _ in range(3):
        assessor.send(market(assessor))
        assessor.advance(1)
    assert [w.strike for w in warns(assessor)] == [600.0]  # the short in the money, once; the far call never
    (warning,) = assessor.told(Roles.NOTIFIER, Alert)  # one T-30 alert, not one per update
    assert SHORT_ITM.contract.key in warning.body and LONG_FAR.contract.key not in warning.body
    assert not [d for m in assessor.told(Roles.EXECUTOR, Decisions) for d in m.decisions if isinstance(d, Close)]
    assessor.clock.set(CLOSE - timedelta(minutes=4))  # T-5
    assessor.send(market(assessor))
    (close,) = [d for m in assessor.told(Roles.EXECUTOR, Decisions) for d in m.decisions if isinstance(d, Close)]
    assert (close.contract, close.quantity, close.stage) == (SHORT_ITM.contract, 2, Stage.T5)


def test_a_restarted_assessor_does_not_warn_again(assessor):
    assessor.send(book(assessor))
    assessor.send(market(assessor))
    assessor.restart()  # a crash: the new actor starts from the kept state
    assessor.send(book(assessor))
    assessor.send(market(assessor))
    assert len(warns(assessor)) == 1 and len(assessor.told(Roles.NOTIFIER, Alert)) == 1


def test_status_is_a_snapshot_with_the_policys_forecast(assessor):
    assessor.send(book(assessor))
    assessor.send(market(assessor))
    snapshot = assessor.ask(StatusQuery())
    assert isinstance(snapshot, AssessorSnapshot) and snapshot.source == "test"
    assert snapshot.closes_at == {SHORT_ITM.contract: Stage.T5, LONG_FAR.contract: None}
    assessor.send(market(assessor, spot=601.0))  # the short put out of the money now; the snapshot is a copy
    assert snapshot.spots["SPY"].mid == 598.0


def test_a_manual_close_is_sent_and_a_refusal_only_answered(assessor):
    assessor.send(book(assessor))
    assessor.send(market(assessor))
    assert assessor.ask(ManualClose(SHORT_ITM.contract.key, assessor.clock.now())) == \
        f"closing 2 {SHORT_ITM.contract.key} (BUY)"
    (sent,) = [d for m in assessor.told(Roles.EXECUTOR, Decisions) for d in m.decisions if isinstance(d, Close)]
    assert sent.manual and sent.quantity == 2
    missing = contract(590.0, "P")
    assert assessor.ask(ManualClose(missing.key, assessor.clock.now())) == f"no open position in {missing.key}"
    assert len([d for m in assessor.told(Roles.EXECUTOR, Decisions) for d in m.decisions if isinstance(d, Close)]) == 1
