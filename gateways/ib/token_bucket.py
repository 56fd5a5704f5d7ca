"""A token bucket that paces IB API messages, plus the counter of messages sent.

IB disconnects a client that sends more than 50 messages in a second. The bucket refills at
``rate`` tokens a second and holds at most ``capacity``, so any one-second window sees at most
``capacity + rate`` messages: the gateway keeps that sum under IB's limit. Pure: time is a
function passed in, so tests drive it by hand.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from domain.pacing import IB_MESSAGES_PER_SECOND_LIMIT, paced_rate

_EPSILON = 1e-9


class TokenBucket:
    def __init__(self, rate: float, capacity: float, now: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError(f"token bucket needs rate > 0 and capacity >= 1, got {rate}, {capacity}")
        self.rate = rate
        self.capacity = capacity
        self._now = now
        self._tokens = capacity
        self._stamp = now()
        self._lock = threading.Lock()

    @classmethod
    def under_ib_limit(cls, messages_per_second: int, now: Callable[[], float] = time.monotonic) -> TokenBucket:
        """Refill at the configured rate with a burst allowance that keeps rate + burst under IB's 50/s, by one
        message: sends queued on the loop go out back to back, and the socket may deliver a message sent
        just inside one second together with the next second's."""
        rate = paced_rate(messages_per_second)
        return cls(rate, max(1, IB_MESSAGES_PER_SECOND_LIMIT - 1 - rate), now)

    def _refill(self) -> None:
        now = self._now()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_take(self, tokens: int = 1) -> float:
        """Take ``tokens`` and return 0.0, or take nothing and return the seconds until they are there."""
        if tokens > self.capacity:
            raise ValueError(f"cannot take {tokens} tokens at once from a bucket of {self.capacity}")
        with self._lock:
            self._refill()
            if self._tokens >= tokens - _EPSILON:  # refill arithmetic leaves float dust
                self._tokens = max(self._tokens - tokens, 0.0)
                return 0.0
            return max((tokens - self._tokens) / self.rate, _EPSILON)

    def take(self, tokens: int = 1, sleep: Callable[[float], None] = time.sleep) -> float:
        """Block (through ``sleep``) until ``tokens`` are taken; returns the seconds waited."""
        waited = 0.0
        while (wait := self.try_take(tokens)) > 0:
            sleep(wait)
            waited += wait
        return waited


class MessageCounter:
    """Thread-safe count of API messages written to the socket over the gateway's whole life."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def add(self, n: int = 1) -> None:
        with self._lock:
            self._count += n

    @property
    def count(self) -> int:
        with self._lock:
            return self._count
