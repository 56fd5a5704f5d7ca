"""`run --check`'s report: account, positions and working orders from the gateway, or one clear line."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from gateways.broker import BrokerError
from gateways.ib import check_gateway
from gateways.ib.check import EXPIRED
from runtime.clock import VirtualClock, WallClock
from tests.fakes.ib_gateway import FakeContract, FakeIBGateway, FakeOrder, FakePosition, GatewayScript
from tests.fakes.ib_gateway.harness import settings_for


def test_check_reports_account_positions_and_working_orders():
    call = FakeContract.option("SPY 20261127 635C")
    put = FakeContract.option("SPY 20261127 600P")
    script = GatewayScript(
        positions=[FakePosition(call, 3, 250.0), FakePosition(put, -2, 120.0)],
        open_orders=[FakeOrder(7, put, "BUY", 2, "STP", aux_price=4.2, order_ref="CLN-20261127-SPY-600P-1"),
                     FakeOrder(8, call, "SELL", 1, "LMT", limit_price=2.55, order_ref="manual")])
    with FakeIBGateway(script) as gateway:
        report = check_gateway(settings_for(gateway), VirtualClock(datetime(2026, 11, 27, 15, 0, tzinfo=UTC)))
        assert gateway.wait_for(lambda: gateway.connected_clients == 0)  # it disconnected
    print("\n" + report)
    assert "account: DU1234567" in report
    assert "SPY 20261127 635C" in report and "+3" in report and "-2" in report
    assert "#7" in report and "STP" in report and "stop 4.20" in report and "CLN-20261127-SPY-600P-1" in report
    assert "#8" in report and "lmt 2.55" in report
    assert "option positions: 2" in report and "working orders: 2" in report


def _check(positions, at):
    with FakeIBGateway(GatewayScript(positions=positions)) as gateway:
        return check_gateway(settings_for(gateway), VirtualClock(at))


def _line(report, text):
    [line] = [line for line in report.splitlines() if text in line]
    return line


def test_check_lists_shares_an_exercise_or_assignment_left():
    shares = FakePosition(FakeContract.stock(), 200, 512.30)
    report = _check([shares, FakePosition(FakeContract.option("SPY 20261127 635C"), 1, 250.0)],
                    datetime(2026, 11, 27, 15, 0, tzinfo=UTC))
    print("\n" + report)
    assert "option positions: 1" in report and "stock and other positions: 1" in report
    assert _line(report, "STK").split() == ["SPY", "STK", "+200", "avg", "cost", "512.30"]


def test_check_flags_an_option_that_expired_before_today_in_new_york():
    yesterday = FakePosition(FakeContract.option("SPY 20261126 600P"), -2, 120.0)
    today = FakePosition(FakeContract.option("SPY 20261127 635C"), 3, 250.0)
    # 03:00 UTC on the 27th is still the evening of the 26th in New York: nothing has expired yet.
    evening = _check([yesterday, today], datetime(2026, 11, 27, 3, 0, tzinfo=UTC))
    assert EXPIRED not in evening
    morning = _check([yesterday, today], datetime(2026, 11, 27, 6, 0, tzinfo=UTC))
    print("\n" + morning)
    assert _line(morning, "20261126 600P").endswith(
        "expired: IB removes it overnight; check for exercise or assignment")
    assert EXPIRED not in _line(morning, "20261127 635C")


def test_check_against_a_closed_port_fails_with_one_line_naming_the_address():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(BrokerError) as error:
        check_gateway(settings_for(port=port), WallClock(), connect_timeout=2)
    message = str(error.value)
    print("\n" + message)
    assert "\n" not in message
    assert f"IB Gateway not reachable at 127.0.0.1:{port}" in message and "API socket clients" in message


@pytest.mark.parametrize(("read_only", "said"), [(False, "orders: accepted"), (True, "orders: REFUSED, the API is "
                                                                                     "read-only")])
def test_check_says_whether_ib_takes_orders(read_only, said):
    with FakeIBGateway(GatewayScript(read_only=read_only)) as gateway:
        report = check_gateway(settings_for(gateway), WallClock())
    assert said in report
    assert len(gateway.orders_sent()) == 0  # the what-if probe never places an order
