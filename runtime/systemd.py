"""Talking to systemd: readiness, status lines and a health-gated watchdog (sd_notify protocol).

Everything here is a no-op when the process was not started by systemd (``NOTIFY_SOCKET`` unset), so
``cleanup-manager run`` behaves the same in a terminal, under tests and as a service.

The watchdog deliberately measures real time (threading.Event.wait), not the injected trading clock:
systemd's ``WatchdogSec=`` counts wall-clock microseconds, and a virtual clock must never be able to
starve or flood it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping

import sdnotify

log = logging.getLogger(__name__)


def _notify_socket(environ: Mapping[str, str]) -> str | None:
    return environ.get("NOTIFY_SOCKET") or None


def watchdog_interval(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Seconds between pings (half of ``WATCHDOG_USEC``, as sd_watchdog_enabled(3) advises), or None.

    None when systemd asked for no watchdog, or when ``WATCHDOG_PID`` names another process (the
    variables were inherited by a child, which must not ping on its parent's behalf).
    """
    environ = os.environ if environ is None else environ
    if not _notify_socket(environ):
        return None
    watchdog_pid = environ.get("WATCHDOG_PID")
    if watchdog_pid and watchdog_pid.isdigit() and int(watchdog_pid) != (os.getpid() if pid is None else pid):
        return None
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2_000_000 if usec > 0 else None


class SystemdNotifier:
    """READY=1, STATUS=..., STOPPING=1 and WATCHDOG=1 to ``$NOTIFY_SOCKET``; silent without one.

    Send failures are swallowed (sdnotify's default): losing a status line must never stop trading.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.enabled = _notify_socket(environ) is not None
        self._lock = threading.Lock()  # the watchdog thread and the main thread share one socket
        self._sender: sdnotify.SystemdNotifier | None = None
        if self.enabled:
            # sdnotify reads the address from os.environ; a caller-supplied mapping wins for tests.
            saved = os.environ.get("NOTIFY_SOCKET")
            os.environ["NOTIFY_SOCKET"] = environ["NOTIFY_SOCKET"]
            try:
                self._sender = sdnotify.SystemdNotifier()
            finally:
                if saved is None:
                    os.environ.pop("NOTIFY_SOCKET", None)
                else:
                    os.environ["NOTIFY_SOCKET"] = saved
            if self._sender.socket is None:
                log.warning("systemd: cannot connect to NOTIFY_SOCKET %s; notifications disabled",
                            environ["NOTIFY_SOCKET"])
                self.enabled = False

    def notify(self, *fields: str) -> None:
        """Send one datagram of ``KEY=value`` lines."""
        if not self.enabled or self._sender is None:
            return
        # Newlines inside a value would start a new field and could forge e.g. READY=1 or WATCHDOG=1.
        message = "\n".join(field.replace("\n", " ") for field in fields)
        with self._lock:
            self._sender.notify(message)

    def ready(self, status: str | None = None) -> None:
        self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> None:
        self.notify(f"STATUS={text}")

    def stopping(self, status: str | None = None) -> None:
        self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def close(self) -> None:
        with self._lock:
            if self._sender is not None and self._sender.socket is not None:
                self._sender.socket.close()
            self._sender = None
            self.enabled = False


class Watchdog:
    """A daemon thread that pings ``WATCHDOG=1`` every interval, but only while ``healthy()`` is True.

    A wedged or dead actor makes ``healthy()`` return False (or raise, or hang): the pings stop and
    systemd kills and restarts the service after ``WatchdogSec=``. If health comes back before that,
    pinging resumes. Without ``WATCHDOG_USEC`` (or ``NOTIFY_SOCKET``) ``start()`` does nothing.
    """

    def __init__(
        self,
        notifier: SystemdNotifier,
        healthy: Callable[[], bool],
        *,
        interval: float | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._notifier = notifier
        self._healthy = healthy
        self.interval = interval if interval is not None else watchdog_interval(environ)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.pings = 0
        self.withheld = 0
        self._was_ok = True  # log transitions only, not every withheld ping

    @property
    def enabled(self) -> bool:
        return self._notifier.enabled and self.interval is not None and self.interval > 0

    def start(self) -> Watchdog:
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="systemd-watchdog", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> Watchdog:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def check_once(self) -> bool:
        """One health check and, if healthy, one ping. Returns whether it pinged."""
        try:
            ok = bool(self._healthy())
        except Exception:  # a failing health check is a failed service, not a crashed watchdog
            log.exception("systemd watchdog: health check raised; withholding the ping")
            ok = False
        if ok:
            self._notifier.watchdog()
            self.pings += 1
            if not self._was_ok:
                log.warning("systemd watchdog: service healthy again; pinging resumed")
        else:
            if self._was_ok:
                log.error("systemd watchdog: service unhealthy; withholding pings so systemd restarts it")
            self.withheld += 1
        self._was_ok = ok
        return ok

    def _loop(self) -> None:
        assert self.interval is not None
        # Check at once: start-up may already have spent much of WatchdogSec.
        while not self._stop.is_set():
            self.check_once()
            self._stop.wait(self.interval)
