"""IB's limit on API messages: at most ``limit`` from one client in any sliding second.

IB (with "Reject messages above maximum allowed message rate" set) answers each message over the
limit with error 100 and drops it; the message-codes page adds that TWS "will likely disconnect
the client application after this message". Times are wall-clock (``time.monotonic``): the rate is
about messages on the socket, whatever clock the service runs on.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    admitted: bool
    received_in_second: int  # every message of the last second, dropped ones included (IB's "rec=")


class MessageRateLimit:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.violations = 0
        self._admitted: deque[float] = deque()
        self._received: deque[float] = deque()

    def check(self, at: float) -> Verdict:
        for times in (self._admitted, self._received):
            while times and at - times[0] >= 1.0:
                times.popleft()
        self._received.append(at)
        admitted = len(self._admitted) < self.limit
        if admitted:
            self._admitted.append(at)
        else:
            self.violations += 1
        return Verdict(admitted, len(self._received))
