"""Courier: the thread that delivers the spool to the store, so a slow or hung database holds up no one.

The AuditLogger only appends (a local fsync) and wakes the courier once a tick; the courier drains on
its own thread. A PostgreSQL that stops answering stalls this thread alone (for at most the store's
deadlines), never the actor, whose inbox, watchdog pings and the trading path go on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Courier:
    def __init__(self, drain: Callable[[], int], name: str = "audit-courier") -> None:
        self._drain = drain  # never raises; returns how many records reached the store
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)  # never holds up exit
        self._started = False
        self._lock = threading.Lock()

    def wake(self) -> None:
        """Deliver soon (started on the first call)."""
        with self._lock:
            if not self._started and not self._stopping.is_set():
                self._started = True
                self._thread.start()
        self._wake.set()

    def stop(self, timeout: float) -> bool:
        """Stop after the drain in progress; False if it is still stuck in the store after timeout seconds."""
        self._stopping.set()
        self._wake.set()
        with self._lock:
            started = self._started
        if started and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
            self._wake.clear()
            # A large backlog goes in batches, one after the other, until a batch delivers nothing.
            while not self._stopping.is_set() and self._drain() > 0:
                pass
