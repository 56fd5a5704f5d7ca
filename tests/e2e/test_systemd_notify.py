"""runtime/systemd.py against a real datagram socket standing in for systemd's notify socket."""

from __future__ import annotations

import os
import threading
import time

from runtime.systemd import SystemdNotifier, Watchdog, watchdog_interval
from tests.support.systemd import NotifySocket, notify_socket  # noqa: F401  (fixture)


def test_ready_status_stopping_reach_the_socket(notify_socket: NotifySocket) -> None:  # noqa: F811
    notifier = SystemdNotifier(environ=notify_socket.env())
    assert notifier.enabled
    notifier.ready("connected to IB Gateway")
    notifier.status("T-30: 2 positions at risk")
    notifier.stopping("exercise cut-off passed")
    assert notify_socket.wait_for("STOPPING=1")
    assert notify_socket.datagrams() == [
        "READY=1\nSTATUS=connected to IB Gateway",
        "STATUS=T-30: 2 positions at risk",
        "STOPPING=1\nSTATUS=exercise cut-off passed",
    ]


def test_status_newlines_cannot_forge_other_fields(notify_socket: NotifySocket) -> None:  # noqa: F811
    SystemdNotifier(environ=notify_socket.env()).status("bad\nWATCHDOG=1")
    assert notify_socket.wait_for("STATUS=")
    assert notify_socket.count("WATCHDOG=1") == 0


def test_reads_notify_socket_from_process_environment(notify_socket: NotifySocket, monkeypatch) -> None:  # noqa: F811
    for key, value in notify_socket.env().items():
        monkeypatch.setenv(key, value)
    SystemdNotifier().ready()
    assert notify_socket.wait_for("READY=1")


def test_everything_is_a_no_op_without_notify_socket(monkeypatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = SystemdNotifier()
    assert not notifier.enabled
    notifier.ready("x")
    notifier.status("y")
    notifier.stopping()
    watchdog = Watchdog(notifier, lambda: True, environ={"WATCHDOG_USEC": "1000000"})
    assert not watchdog.enabled
    with watchdog:
        pass
    assert watchdog.pings == 0


def test_unreachable_socket_disables_quietly() -> None:
    notifier = SystemdNotifier(environ={"NOTIFY_SOCKET": "/nonexistent/notify"})
    assert not notifier.enabled
    notifier.ready()


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    sock = {"NOTIFY_SOCKET": "/run/systemd/notify"}
    assert watchdog_interval({**sock, "WATCHDOG_USEC": "60000000"}) == 30.0
    assert watchdog_interval({**sock}) is None
    assert watchdog_interval({**sock, "WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({**sock, "WATCHDOG_USEC": "junk"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "60000000"}) is None  # no socket, no watchdog
    # Inherited by a child process: only the process systemd named may ping.
    assert watchdog_interval({**sock, "WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}, pid=42) is None
    assert watchdog_interval({**sock, "WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}) == 30.0


def test_pings_while_healthy_and_stops_when_wedged(notify_socket: NotifySocket) -> None:  # noqa: F811
    env = notify_socket.env(watchdog_usec=200_000)  # WatchdogSec=0.2s: a ping every 0.1 s
    healthy = threading.Event()
    healthy.set()
    notifier = SystemdNotifier(environ=env)
    watchdog = Watchdog(notifier, healthy.is_set, environ=env)
    assert watchdog.interval == 0.1
    with watchdog:
        assert notify_socket.wait_for("WATCHDOG=1", count=4, timeout=5)
        healthy.clear()  # an actor is wedged
        time.sleep(0.15)  # let a check already past is_set() finish sending
        wedged_at, pings = time.monotonic(), notify_socket.count("WATCHDOG=1")
        time.sleep(0.6)  # three WatchdogSec periods: systemd would have killed us by now
        assert notify_socket.count("WATCHDOG=1") == pings
        assert watchdog.withheld >= 3
        healthy.set()  # recovered before systemd acted: pings resume
        assert notify_socket.wait_for("WATCHDOG=1", count=pings + 1, timeout=5)
    stamps = notify_socket.stamps("WATCHDOG=1")
    assert not [s for s in stamps if wedged_at < s < wedged_at + 0.6]
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False) if b < wedged_at]
    assert gaps and max(gaps) < 0.2, gaps  # healthy pings always inside WatchdogSec


def test_health_check_that_raises_withholds_the_ping(notify_socket: NotifySocket) -> None:  # noqa: F811
    def broken() -> bool:
        raise RuntimeError("registry lookup failed")

    watchdog = Watchdog(SystemdNotifier(environ=notify_socket.env()), broken, interval=0.05)
    assert watchdog.check_once() is False
    with watchdog:
        time.sleep(0.3)
    assert notify_socket.count("WATCHDOG=1") == 0
    assert watchdog.withheld >= 2


def test_stop_ends_the_thread_promptly(notify_socket: NotifySocket) -> None:  # noqa: F811
    watchdog = Watchdog(SystemdNotifier(environ=notify_socket.env()), lambda: True, interval=30)
    watchdog.start()
    assert notify_socket.wait_for("WATCHDOG=1")  # the first check happens at once, not after 30 s
    started = time.monotonic()
    watchdog.stop()
    assert time.monotonic() - started < 1
    assert not [t for t in threading.enumerate() if t.name == "systemd-watchdog"]
