"""IB's message rate as a pure schedule: when each message of a paced stream goes out.

IB disconnects a client that sends more than 50 API messages in a second; the IB gateway paces at the
``ib_messages_per_second`` setting (``paced_rate``: never above 48) with a token bucket on the wall
clock (``gateways/ib/token_bucket.py``). The paper broker and the benchmark's broker run on virtual
time, between discrete ticks, so they pace with ``Pacer`` instead: messages go out first in, first out,
``interval`` apart, each no earlier than it was asked for. The interval is rounded up to the
microsecond, so any one-second window (half open) holds at most ``rate`` messages, exactly.
"""

from __future__ import annotations

import math

IB_MESSAGES_PER_SECOND_LIMIT = 50
_MICROS = 1_000_000


def paced_rate(messages_per_second: float) -> float:
    """The rate a client of IB paces at for this setting: two under IB's limit at most."""
    return min(messages_per_second, IB_MESSAGES_PER_SECOND_LIMIT - 2)


class Pacer:
    """Send slots for a FIFO stream of messages at ``rate`` a second, on any increasing timeline in seconds."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError(f"a pacer needs a rate above 0, got {rate}")
        self.rate = rate
        self._interval = math.ceil(_MICROS / rate)  # microseconds
        self._free: int | None = None  # the first microsecond the next message may go out

    def slot(self, at: float) -> float:
        """When a message asked for at ``at`` goes out: at ``at``, or after every message asked for before it."""
        asked = round(at * _MICROS)
        sent = asked if self._free is None else max(asked, self._free)
        self._free = sent + self._interval
        return sent / _MICROS
