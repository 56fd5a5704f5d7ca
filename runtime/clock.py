"""The clocks (``domain.clock.Clock``): wall time in production, virtual time in simulations and tests.

No trading code calls ``time.time()``, ``datetime.now()`` or ``time.sleep()`` directly: with the
virtual clock an expiration afternoon runs in seconds and deterministically.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(seconds, 0.0))


class VirtualClock:
    """Time moves only when ``advance`` is called; sleepers wake when their instant is reached."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the virtual clock needs a timezone-aware start")
        self._now = start
        self._changed = threading.Condition()

    def now(self) -> datetime:
        with self._changed:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._changed:
            self._now += timedelta(seconds=seconds)
            self._changed.notify_all()
            return self._now

    def set(self, instant: datetime) -> None:
        with self._changed:
            if instant > self._now:
                self._now = instant
                self._changed.notify_all()

    def sleep(self, seconds: float) -> None:
        with self._changed:
            wake = self._now + timedelta(seconds=seconds)
            while self._now < wake:
                self._changed.wait(timeout=0.5)
