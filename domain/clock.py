"""The one clock everything reads: an interface, so the domain, gateways and actors need no runtime.

No trading code calls ``time.time()``, ``datetime.now()`` or ``time.sleep()`` directly: with the
virtual clock (``runtime.clock.VirtualClock``) an expiration afternoon runs in seconds and
deterministically; production uses ``runtime.clock.WallClock``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...
