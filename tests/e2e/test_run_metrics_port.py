"""`run` binds its metrics endpoint before it touches IB Gateway: a taken port is one line and exit 2."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest

from cli.cmd_run import serve_session
from runtime.clock import VirtualClock
from runtime.systemd import SystemdNotifier
from tests.fakes.ib_gateway import FakeIBGateway
from tests.fakes.ib_gateway.harness import settings_for
from tests.support.ib_tree import CLOSE, SESSION


def test_a_busy_metrics_port_is_one_line_and_exit_2_and_ib_gateway_is_never_contacted(tmp_path, capsys):
    with socket.socket() as other_instance, FakeIBGateway() as gateway:
        other_instance.bind(("127.0.0.1", 0))
        other_instance.listen()  # what another cleanup-manager's endpoint does
        port = other_instance.getsockname()[1]
        settings = settings_for(gateway, metrics_port=port, data_dir=str(tmp_path / "data"),
                                log_dir=str(tmp_path / "logs"))
        with pytest.raises(SystemExit) as exited:
            serve_session(settings, VirtualClock(CLOSE - timedelta(hours=1)), SESSION, CLOSE,
                          SystemdNotifier(environ={}))
        assert gateway.received() == []  # not even the API handshake: nobody connected
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        f"metrics endpoint 127.0.0.1:{port} is already in use (another cleanup-manager?): stop it or set "
        "metrics_port; 0 disables the endpoint\n")
