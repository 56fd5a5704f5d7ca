"""Never over-close, always close (issue 15): the actor tree over the real ib_async client and a fake IB Gateway
that misbehaves as IB does (lagging position reads, refused changes, Read-Only API, orders of TWS and of other
clients). Each test failed before the change it covers."""

from datetime import datetime

import pytest

from actors.context import Roles
from domain.alerts import Severity
from domain.mode import Mode
from domain.session import EASTERN
from runtime.service import READ_ONLY_CAUSE
from tests.fakes.ib_gateway import FakeContract, FakeOrder, FakePosition, GatewayScript, OrderBehaviour
from tests.support.ib_tree import CALL, Alerts, audited, audited_fills, placed, run_tree

T5 = datetime(2026, 11, 25, 15, 54, 58, tzinfo=EASTERN)
T30 = datetime(2026, 11, 25, 15, 29, 58, tzinfo=EASTERN)


def long_call(quantity: int = 2, **script: object) -> GatewayScript:
    return GatewayScript(positions=[FakePosition(FakeContract.option(CALL), quantity, 180.0)], **script)  # type: ignore[arg-type]


def critical(sent: Alerts) -> list[str]:
    return [f"{a.title}: {a.body}" for a in sent.sent if a.severity is Severity.CRITICAL]


@pytest.mark.parametrize("lag", [2, 12])
def test_position_reads_lagging_the_fill_never_make_a_second_close(tmp_path, lag):
    seen: list[int] = []

    def watch(gateway, service):
        seen.append(gateway.position(CALL))
        return False

    gateway, service = run_tree(tmp_path, long_call(position_lag_seconds=lag, default_behaviour=OrderBehaviour.fill()),
                                start=T5, seconds=lag + 20, until=watch)
    assert len(placed(gateway)) == 1  # before: a long 2 went to -2, and +2 again, in 7 orders
    assert min(seen) == 0 and seen[-1] == 0  # never short
    assert [f.quantity for f in audited_fills(tmp_path)] == [2]


def test_a_refused_price_change_never_leads_to_a_second_close(tmp_path):
    # The close rests; IB refuses every change to it while it keeps working at its first price.
    script = long_call(default_behaviour=OrderBehaviour.rest().refusing_modifications(201))
    sent = Alerts()
    gateway, service = run_tree(tmp_path, script, start=T5, seconds=45, alerts=sent)
    ids = {r.fields[1] for r in placed(gateway)}
    assert len(ids) == 1  # modifications of the one order, never a fresh full-size close beside it
    given_up = {c.key for c in service.keeper.get(Roles.EXECUTOR).given_up}
    assert given_up == {CALL} and not service.gate.closed_by("circuit breaker")
    assert any("Giving up on" in line for line in critical(sent))
    refusals = [a for a in audited(tmp_path) if a.action.value == "reject" and "201" in (a.error or "")]
    assert refusals


def test_read_only_api_is_found_at_connect_halts_trading_and_refuses_active_mode(tmp_path):
    sent = Alerts()
    gateway, service = run_tree(tmp_path, long_call(read_only=True), start=T5, seconds=10, alerts=sent)
    assert placed(gateway) == []  # not one order to a phantom id
    assert service.gate.closed_by(READ_ONLY_CAUSE) and service.status()["trading_halted"]
    assert any("read-only" in line and "Read-Only API" in line for line in critical(sent))
    with pytest.raises(ValueError, match="untick Read-Only API"):
        service.set_mode(Mode.ACTIVE)


TWS_TAKE_PROFIT = FakeOrder(21, FakeContract.option(CALL), "SELL", 2, "LMT", limit_price=9.0, client_id=0,
                            order_ref="take profit")


def test_a_tws_order_another_client_id_cannot_touch_is_named_from_t30_and_only_the_rest_is_closed(tmp_path):
    sent = Alerts()
    script = long_call(3, open_orders=[TWS_TAKE_PROFIT], default_behaviour=OrderBehaviour.fill())
    gateway, service = run_tree(tmp_path, script, start=T30, seconds=26 * 60 + 30, alerts=sent,
                                step=lambda now: 30 if now < T5 else 1)
    blocking = [line for line in critical(sent) if "TWS" in line and CALL in line]
    assert blocking and "ib_client_id" in blocking[0]  # what to do
    assert [r for r in gateway.received_since_mark("cancelOrder")] == []  # IB would refuse: never tried
    [order] = placed(gateway)
    assert "SELL" in order.fields and order.fields[17] == "1"  # only what the TWS order does not cover


def test_with_client_id_0_a_tws_order_is_bound_cancelled_and_the_close_follows_at_once(tmp_path):
    script = long_call(2, open_orders=[TWS_TAKE_PROFIT], default_behaviour=OrderBehaviour.fill())
    gateway, service = run_tree(tmp_path, script, start=T5, seconds=20, ib_client_id=0,
                                until=lambda g, s: bool(placed(g)))
    [cancel] = gateway.received_since_mark("cancelOrder")
    [close] = placed(gateway)
    assert int(cancel.fields[2]) < 0  # the bound id (negative: IB's "use negative numbers" default)
    assert close.fields[17] == "2" and close.at - cancel.at < 3  # re-read at once, not at the next poll


def test_our_order_under_an_earlier_client_id_is_noted_once_never_walked_never_a_failure(tmp_path):
    ours_before = FakeOrder(12, FakeContract.option(CALL), "SELL", 2, "LMT", limit_price=9.0, client_id=11,
                            order_ref="CLN-20261125-SPY-638C-1")
    sent = Alerts()
    gateway, service = run_tree(tmp_path, long_call(2, open_orders=[ours_before]), start=T5, seconds=40, alerts=sent)
    assert placed(gateway) == [] and not service.gate.closed_by("circuit breaker")
    notes = [a for a in sent.sent if "belongs to API client 11" in a.title]
    assert len(notes) == 1
    assert not [a for a in audited(tmp_path) if a.action.value == "reject"]
