"""The control socket under hostile or broken clients: overlong lines, deep nesting, connection floods,
and the peer credentials the kernel gives under systemd's PrivateUsers=yes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from runtime.commands import CommandHandler
from runtime.control_socket import (
    MAX_CLIENTS,
    MAX_NESTING,
    MAX_REQUEST_BYTES,
    ControlSocketServer,
    Peer,
    mapped_ids,
    nesting_depth,
    send_command,
)
from tests.integration.test_control_socket import NOBODY

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(socket_dir, desk, audit):
    made = ControlSocketServer(socket_dir / "control.sock", CommandHandler(desk, audit, desk.clock).handle)
    made.start()
    yield made
    made.stop()


def connect(path: Path) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(str(path))  # blocking: waits for room in the listen queue instead of EAGAIN
    conn.settimeout(5)
    return conn


def read_all(conn: socket.socket) -> bytes:
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_an_overlong_line_closes_the_connection_and_its_tail_never_runs(server, desk, audit):
    desk.kill()
    with connect(server.path) as conn:
        # 64 KiB of padding then a request: read in 64 KiB pieces, the tail would look like a new line.
        conn.sendall(b" " * MAX_REQUEST_BYTES + b'{"command": "resume"}\n')
        got = read_all(conn)  # the server closes the connection: recv returns b"" after its one reply
    [reply] = [json.loads(line) for line in got.splitlines()]
    assert reply["ok"] is False and f"request longer than {MAX_REQUEST_BYTES} bytes" in reply["text"]
    assert "connection closed" in reply["text"]
    assert desk.killed  # resume never ran
    assert audit == []
    assert send_command(server.path, "status").ok  # the server itself carries on


def test_a_request_just_under_the_limit_is_served(server, desk):
    request = json.dumps({"command": "kill", "who": "x" * (MAX_REQUEST_BYTES - 40)}).encode() + b"\n"
    assert len(request) <= MAX_REQUEST_BYTES
    with connect(server.path) as conn:
        conn.sendall(request)
        assert json.loads(conn.makefile("rb").readline())["ok"] is True
    assert desk.killed


def test_deep_nesting_is_refused_before_parsing_and_the_connection_lives_on(server, desk, audit):
    with connect(server.path) as conn:
        reader = conn.makefile("rb")
        conn.sendall(b"[" * 60_000 + b"\n")  # json.loads would recurse 60,000 deep
        first = json.loads(reader.readline())
        conn.sendall(b'{"command": {"a": {"b": {"c": {"d": "kill"}}}}}\n')
        second = json.loads(reader.readline())
        conn.sendall(b'{"command": "kill", "who": "[[[[[[[[[[ {{{{{{"}\n')  # brackets inside a string are text
        third = json.loads(reader.readline())
    assert first == {"ok": False, "text": f"request nested deeper than {MAX_NESTING} levels: nothing done", "data": {}}
    assert second["ok"] is False and "nested deeper" in second["text"]
    assert third["ok"] is True and desk.killed
    assert server.healthy()


def test_nesting_depth_ignores_brackets_in_strings_and_escaped_quotes():
    assert nesting_depth(b'{"command": "status"}') == 1
    assert nesting_depth(b'{"a": [[1], {"b": [2]}]}') == 4
    assert nesting_depth(b'{"who": "a\\"[[[[[[\\"b"}') == 1
    assert nesting_depth(b"[" * 100) == 100


def test_connections_beyond_the_cap_are_refused_in_one_line_and_served_again_later(server, desk):
    held = [connect(server.path) for _ in range(MAX_CLIENTS)]
    try:
        deadline = time.monotonic() + 10
        while _client_threads() < MAX_CLIENTS and time.monotonic() < deadline:
            time.sleep(0.01)
        refused = send_command(server.path, "kill", timeout=5)
        assert refused.ok is False
        assert refused.text == (f"too many control connections ({MAX_CLIENTS} open): close one (each terminal UI "
                                "holds one) or try again shortly")
        assert not desk.killed
        flood = [connect(server.path) for _ in range(200)]  # none of these gets a thread
        assert _client_threads() <= MAX_CLIENTS
        for conn in flood:
            conn.close()
    finally:
        for conn in held:
            conn.close()
    deadline = time.monotonic() + 10
    while _client_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert send_command(server.path, "kill").ok and desk.killed


def _client_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "control-client")


# --- peer credentials under PrivateUsers=yes ------------------------------------------------------

def test_mapped_ids_reads_proc_uid_map():
    assert mapped_ids("         0          0 4294967295\n") == [range(0, 4294967295)]
    private_users = mapped_ids("         0          0          1\n       998        998          1\n")
    assert private_users == [range(0, 1), range(998, 999)]
    assert not any(NOBODY in ids for ids in private_users)


def test_peer_labels_say_what_the_kernel_said_and_what_was_only_claimed():
    assert Peer(1001, 1001, 42, "alice").label() == "uid 1001 (alice) gid 1001 pid 42"
    assert Peer(1001, 1001, 42, "alice", claimed="alice").label() == "uid 1001 (alice) gid 1001 pid 42"
    assert Peer(65534, 65534, 42, unmapped=True, claimed="alice").label() == (
        "uid 65534 (unmapped) gid 65534 pid 42, claims 'alice'")
    assert Peer(None, None, None, claimed="bob").label() == "unknown peer, claims 'bob'"


SERVER_IN_NAMESPACE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from domain.commands import CommandReply
    from runtime.control_socket import ControlSocketServer

    def echo(text, who, via, identity=None):
        return CommandReply(True, who, dict(identity or {}))

    server = ControlSocketServer(Path(sys.argv[1]), echo, mode=0o666)
    server.start()
    while True:
        time.sleep(1)
""")


def _as_user(uid: int, path: Path, who: str) -> dict:
    """send_command from a forked child running as uid/gid ``uid``; the reply as a dict."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            reply = send_command(path, "status", timeout=5, who=who)
            os.write(write_end, json.dumps({"text": reply.text, "data": reply.data, "pid": os.getpid()}).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(child, 0)
    return json.loads(data)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create a user namespace and switch users")
def test_under_private_users_a_non_root_peer_is_audited_as_unmapped_with_its_claim_apart(socket_dir):
    # As systemd's PrivateUsers=yes does: a user namespace mapping only root (and the service's own
    # user); every other uid reads as the overflow uid 65534 inside it.
    path = socket_dir / "ns.sock"
    command = ["unshare", "--user", "--map-user=0", "--map-group=0", sys.executable, "-c", SERVER_IN_NAMESPACE,
               str(path)]
    try:
        server = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE)
    except FileNotFoundError:
        pytest.skip("unshare(1) is not installed")
    try:
        deadline = time.monotonic() + 30
        while not path.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"cannot create a user namespace here: {server.stderr.read().decode()[-300:]}")
            time.sleep(0.05)
        stranger = _as_user(1000, path, who="root")  # uid 1000 claims to be root
        assert stranger["text"] == f"uid 65534 (unmapped) gid 65534 pid {stranger['pid']}, claims 'root'"
        assert stranger["data"] == {"peer_uid": 65534, "peer_gid": 65534, "peer_pid": stranger["pid"],
                                    "peer_uid_unmapped": True, "claimed_name": "root"}
        root = send_command(path, "status", timeout=5, who="root")
        assert root.text == f"uid 0 (root) gid 0 pid {os.getpid()}"  # mapped: the kernel's word and its name
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stderr.close()
