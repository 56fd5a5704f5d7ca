"""A real sd_notify endpoint for tests: a datagram Unix socket that records what the service sends.

Use the ``notify_socket`` fixture (import it into a test module: ``from tests.support.systemd import
notify_socket  # noqa: F401``), then either point the process under test at it with
``subprocess.run(..., env={**os.environ, **sock.env(watchdog_usec=...)})`` or
``monkeypatch.setenv`` each item of ``sock.env(...)`` for in-process code.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator

import pytest


class NotifySocket:
    """Binds a fresh AF_UNIX/SOCK_DGRAM socket and collects every datagram on a reader thread."""

    def __init__(self) -> None:
        # sun_path is limited to 108 bytes: pytest's tmp_path can be longer, so use a short dir in /tmp.
        self._dir = tempfile.mkdtemp(prefix="sdn-", dir="/tmp")
        self.path = os.path.join(self._dir, "notify")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self._sock.settimeout(0.05)
        self._datagrams: list[tuple[float, str]] = []
        self._changed = threading.Condition()
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, name="notify-socket-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._changed:
                self._datagrams.append((time.monotonic(), data.decode("utf-8", "replace")))
                self._changed.notify_all()

    def env(self, watchdog_usec: int | None = None, watchdog_pid: int | None = None) -> dict[str, str]:
        """The variables systemd would set for a Type=notify service with WatchdogSec=."""
        values = {"NOTIFY_SOCKET": self.path}
        if watchdog_usec is not None:
            values["WATCHDOG_USEC"] = str(watchdog_usec)
        if watchdog_pid is not None:
            values["WATCHDOG_PID"] = str(watchdog_pid)
        return values

    def datagrams(self) -> list[str]:
        with self._changed:
            return [text for _, text in self._datagrams]

    def fields(self) -> list[str]:
        """Every ``KEY=value`` line received, in order (one datagram may carry several)."""
        return [line for text in self.datagrams() for line in text.split("\n") if line]

    def count(self, field: str) -> int:
        return self.fields().count(field)

    def stamps(self, field: str) -> list[float]:
        """time.monotonic() of each datagram that carried ``field`` (for gaps between pings)."""
        with self._changed:
            return [stamp for stamp, text in self._datagrams if field in text.split("\n")]

    def wait_for(self, field: str, count: int = 1, timeout: float = 5.0) -> bool:
        """Wait until ``field`` (an exact line such as ``WATCHDOG=1``, or a ``KEY=`` prefix) arrived ``count``
        times. A bare name (``READY``) matches nothing systemd is sent, so it is refused rather than waited out."""
        if "=" not in field:
            raise ValueError(f"wait_for({field!r}): give a whole line (READY=1) or a prefix ending in '=' (STATUS=)")

        def seen() -> int:
            lines = [line for text in (t for _, t in self._datagrams) for line in text.split("\n")]
            return sum(1 for line in lines if line == field or (field.endswith("=") and line.startswith(field)))

        deadline = time.monotonic() + timeout
        with self._changed:
            while seen() < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    def close(self) -> None:
        self._closed.set()
        self._reader.join(1.0)
        self._sock.close()
        shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    sock = NotifySocket()
    try:
        yield sock
    finally:
        sock.close()
