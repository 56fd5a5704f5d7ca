"""The control socket and `cleanup-manager ctl` over a real Unix socket, including file permissions."""

from __future__ import annotations

import json
import os
import pwd
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main
from domain.mode import Mode
from runtime.commands import CommandHandler
from runtime.control_socket import ControlSocketError, ControlSocketServer, send_command

NOBODY = 65534


@pytest.fixture
def server(socket_dir, desk, audit):
    made = ControlSocketServer(socket_dir / "control.sock", CommandHandler(desk, audit, desk.clock).handle)
    made.start()
    yield made
    made.stop()


def test_socket_file_is_group_only(server):
    mode = server.path.stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o660
    assert server.healthy()


def test_ctl_status_shows_mode_time_to_close_and_positions_at_risk(server, capsys):
    assert main(["ctl", "--socket", str(server.path), "status"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "mode: active"
    assert out[1] == "time to close: 20.0 min (close 13:00 ET) | stage T-30"
    assert out[2] == "positions at risk: 2 of 4"
    assert out[3].startswith("  SPY 20261127 635C qty 3 moneyness +0.79%")
    assert out[4].startswith("  SPY 20261127 642P qty -2 moneyness +0.31%")


def test_ctl_mode_emergency_closes_and_is_audited_with_the_peer_uid(server, desk, audit, capsys):
    assert main(["ctl", "--socket", str(server.path), "mode", "emergency"]) == 0
    assert capsys.readouterr().out == "mode is now emergency\n"
    assert desk.mode is Mode.EMERGENCY and desk.expiring_open() == {}
    uid, gid = os.geteuid(), os.getegid()
    assert re.fullmatch(rf"socket uid {uid} \({pwd.getpwuid(uid).pw_name}\) gid {gid} pid \d+: mode emergency "
                        "-> accepted", audit[-1].reason)
    assert audit[-1].details["peer_uid"] == uid and audit[-1].details["peer_gid"] == gid


def test_ctl_refused_command_exits_non_zero_with_the_reason(server, desk, capsys):
    assert main(["ctl", "--socket", str(server.path), "set", "t2", "0.5"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("refused: config error: t2_moneyness='0.5' (from command): must be a fraction")
    assert desk.settings().t2_moneyness == 0.005


def test_ctl_json_output(server, capsys):
    assert main(["ctl", "--socket", str(server.path), "--json", "status"]) == 0
    reply = json.loads(capsys.readouterr().out)
    assert reply["ok"] is True and reply["data"]["positions"] == 4


def test_ctl_with_nothing_listening_says_so(socket_dir, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["ctl", "--socket", str(socket_dir / "control.sock"), "status"])
    assert exited.value.code == 3
    assert capsys.readouterr().err.strip() == (f"no cleanup-manager is listening on {socket_dir / 'control.sock'}: "
                                              "is the service running?")


def _client_as_nobody(path: Path, text: str) -> str:
    """Run send_command in a forked child that dropped to uid/gid nobody; return what it got."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            try:
                result = "reply: " + send_command(path, text, timeout=5).text
            except ControlSocketError as error:
                result = "error: " + str(error)
            os.write(write_end, result.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read().decode()
    os.waitpid(child, 0)
    return data


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user")
def test_a_user_without_permission_is_refused(server, desk):
    got = _client_as_nobody(server.path, "kill")
    assert got == (f"error: permission denied on {server.path}: your user may not control the service "
                   "(the socket's owner and group may; ask to be added to its group)")
    assert not desk.killed
    # Control: the same user gets through once the mode allows it, so the mode bits are what decided.
    server.path.chmod(0o666)
    assert _client_as_nobody(server.path, "kill").startswith("reply: kill switch engaged")
    assert desk.killed


def test_a_second_instance_refuses_a_live_socket(server, desk, audit):
    other = ControlSocketServer(server.path, CommandHandler(desk, audit, desk.clock).handle)
    with pytest.raises(ControlSocketError, match="is in use: another cleanup-manager is running"):
        other.start()
    assert send_command(server.path, "status").ok  # the live one is untouched


def test_a_stale_socket_file_is_replaced(socket_dir, desk, audit):
    path = socket_dir / "control.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens: what a crashed process leaves behind
    made = ControlSocketServer(path, CommandHandler(desk, audit, desk.clock).handle)
    made.start()
    try:
        assert send_command(path, "status").ok
    finally:
        made.stop()
    assert not path.exists()


def test_a_regular_file_in_the_way_is_not_deleted(socket_dir, desk, audit):
    path = socket_dir / "control.sock"
    path.write_text("precious")
    with pytest.raises(ControlSocketError, match="exists and is not a socket"):
        ControlSocketServer(path, CommandHandler(desk, audit, desk.clock).handle).start()
    assert path.read_text() == "precious"


def test_one_connection_carries_several_requests_and_bad_json_is_answered(server):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(server.path))
        conn.settimeout(5)
        conn.sendall(b'{"command": "help"}\nnot json\n{"command": "mode monitor", "who": "tui"}\n')
        reader = conn.makefile("rb")
        replies = [json.loads(reader.readline()) for _ in range(3)]
    assert replies[0]["ok"] and replies[0]["text"].startswith("Commands:")
    assert replies[1] == {"ok": False, "text": 'request must be JSON like {"command": "status"}', "data": {}}
    assert replies[2]["text"] == "mode is now monitor"


def test_claimed_name_is_kept_beside_the_real_uid_labelled_as_claimed(server, audit):
    send_command(server.path, "kill", who="tui-alice")
    assert re.search(rf"^socket uid {os.geteuid()} \(\w+\) gid {os.getegid()} pid {os.getpid()}, claims 'tui-alice': "
                     "kill -> accepted$", audit[-1].reason)
    assert audit[-1].details["claimed_name"] == "tui-alice" and audit[-1].details["peer_pid"] == os.getpid()


def test_the_console_script_in_its_own_process(server):
    done = subprocess.run([sys.executable, "-m", "cli.main", "ctl", "--socket", str(server.path), "status"],
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("mode: active\ntime to close: 20.0 min")
