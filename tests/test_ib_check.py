"""`run --check`'s report: account, positions and working orders from the gateway, or one clear line."""

from __future__ import annotations

import socket

import pytest

from gateways.broker import BrokerError
from gateways.ib import check_gateway
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
        report = check_gateway(settings_for(gateway))
        assert gateway.wait_for(lambda: gateway.connected_clients == 0)  # it disconnected
    print("\n" + report)
    assert "account: DU1234567" in report
    assert "SPY 20261127 635C" in report and "+3" in report and "-2" in report
    assert "#7" in report and "STP" in report and "stop 4.20" in report and "CLN-20261127-SPY-600P-1" in report
    assert "#8" in report and "lmt 2.55" in report
    assert "option positions: 2" in report and "working orders: 2" in report


def test_check_against_a_closed_port_fails_with_one_line_naming_the_address():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(BrokerError) as error:
        check_gateway(settings_for(port=port), connect_timeout=2)
    message = str(error.value)
    print("\n" + message)
    assert "\n" not in message
    assert f"IB Gateway not reachable at 127.0.0.1:{port}" in message and "API socket clients" in message
