"""Lapse instructions through the actor tree and the real ib_async client, against the fake IB Gateway."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.alerts import Severity
from domain.audit import ActionKind
from domain.model import OptionContract
from domain.session import EASTERN
from gateways.broker import LapseStatus
from gateways.ib import IBBroker
from runtime.clock import VirtualClock
from tests.fakes.ib_gateway import FakeContract, FakeIBGateway, FakePosition, GatewayScript, OrderBehaviour
from tests.fakes.ib_gateway.harness import settings_for
from tests.support.ib_tree import CALL, CLOSE, SHORT_PUT, Alerts, audited, run_tree

CUTOFF = datetime(2026, 11, 25, 16, 30, tzinfo=EASTERN)
SIDE_AWARE = {"lapse_longs": True, "long_min_bid": 0.05, "short_assignment_probability": 0.05}


def held(**script: object) -> GatewayScript:
    return GatewayScript(positions=[FakePosition(FakeContract.option(CALL), 2, 180.0),
                                    FakePosition(FakeContract.option(SHORT_PUT), -1, 90.0)],
                         lapse_cutoff=CUTOFF.timestamp(), **script)  # type: ignore[arg-type]


def test_the_broker_sends_a_lapse_as_ib_wants_it_and_reports_refusals():
    with FakeIBGateway(held()) as gateway:
        gateway.use_clock(lambda: (CLOSE + timedelta(minutes=1)).timestamp())
        broker = IBBroker(settings_for(gateway), VirtualClock(CLOSE), request_timeout=3, connect_timeout=3)
        broker.connect()
        try:
            taken = broker.lapse(OptionContract.parse_key(CALL), 2)
            short = broker.lapse(OptionContract.parse_key(SHORT_PUT), 1)
            gateway.use_clock(lambda: CUTOFF.timestamp())
            late = broker.lapse(OptionContract.parse_key(CALL), 2)
        finally:
            broker.disconnect()
    assert taken.status is LapseStatus.UNCONFIRMED  # IB answers only a refusal
    (request,) = gateway.lapses
    assert (request.action, request.quantity, request.override, request.exchange) == (2, 2, 1, "CBOE")
    assert request.account == "DU1234567" and request.contract.symbol == "SPY"
    assert short.status is LapseStatus.REFUSED and "exceeds the long position" in short.message
    assert late.status is LapseStatus.REFUSED and "deadline" in late.message


def test_a_long_in_the_money_ib_will_not_let_us_sell_is_lapsed_after_the_close_and_the_short_never(tmp_path):
    """The close of the long call is refused all afternoon; after the bell it is lapsed, once."""
    sent = Alerts()
    script = held(contract_behaviours={CALL: OrderBehaviour.reject(201, "Order rejected - reason: no trading")},
                  default_behaviour=OrderBehaviour.rest())
    start = CLOSE - timedelta(seconds=20)
    gateway, _ = run_tree(tmp_path, script, start=start, seconds=75, alerts=sent, **SIDE_AWARE)
    (lapse,) = gateway.lapses
    assert lapse.contract.strike.startswith("638") and lapse.contract.right == "C" and lapse.action == 2
    records = [a for a in audited(tmp_path) if a.action is ActionKind.LAPSE]
    assert [(r.strike, r.right, r.quantity, r.success) for r in records] == [(638.0, "C", 2, True)]
    assert CLOSE + timedelta(seconds=30) <= records[0].at < CUTOFF
    assert any(a.title == "Lapse sent: " + CALL and a.severity is Severity.INFO for a in sent.sent)


def test_a_lapse_ib_refuses_pages_critical_with_what_the_trader_can_still_do(tmp_path):
    """Here IB's own deadline came before ours (the fake's cut-off set to 16:00:10)."""
    sent = Alerts()
    script = held(contract_behaviours={CALL: OrderBehaviour.reject()})
    script.lapse_cutoff = (CLOSE + timedelta(seconds=10)).timestamp()
    gateway, _ = run_tree(tmp_path, script, start=CLOSE - timedelta(seconds=5), seconds=45, alerts=sent,
                          **SIDE_AWARE)
    assert not gateway.lapses
    (failed,) = [a for a in sent.sent if a.title == "Lapse FAILED: " + CALL]
    assert failed.severity is Severity.CRITICAL and "EXERCISED" in failed.body and "16:30 ET" in failed.body
    assert "deadline" in failed.body
    (record,) = [a for a in audited(tmp_path) if a.action is ActionKind.LAPSE]
    assert record.success is False and "deadline" in (record.error or "")
