"""Pacing: every request of the connection under IB's rate, from one token bucket, and the hop onto the loop.

Reads wait on the loop for their tokens (``read``), one at a time; order sends are queued on the loop's outbox
(outbox.py) and paced there; ``run_paced`` and ``queue`` are how callers on other threads reach the loop, each
failure turned into one BrokerError line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from gateways.broker import BrokerError
from gateways.ib.errors import not_connected, outcome_unknown
from gateways.ib.loop_thread import LoopThread, LoopTimeout
from gateways.ib.outbox import Outbox
from gateways.ib.token_bucket import TokenBucket

T = TypeVar("T")
# Checking and queueing an order on the loop takes microseconds; a loop this late may never run it.
QUEUE_TIMEOUT_SECONDS = 2.0


class Pacing:
    def __init__(self, host: str, port: int, loop: LoopThread, bucket: TokenBucket, request_timeout: float,
                 is_connected: Callable[[], bool]) -> None:
        self._host, self._port = host, port
        self._loop = loop
        self._bucket = bucket
        self._request_timeout = request_timeout
        self._is_connected = is_connected
        self.outbox = Outbox(bucket)
        self._read_lock: asyncio.Lock | None = None  # created on the loop

    async def read(self, request: Callable[[], Awaitable[Any]], messages: int = 1) -> Any:
        """One request at a time: ib_async keeps one pending request per kind (positions, open orders), so two
        at once would answer one of them with the other's result, or never."""
        if self._read_lock is None:
            self._read_lock = asyncio.Lock()
        async with self._read_lock:
            await self.outbox.pace(messages)
            return await asyncio.wait_for(request(), self._request_timeout)

    def run_paced(self, work: Callable[[], Any], what: str, messages: int = 0) -> Any:
        """Pace ``messages`` tokens, then run ``work`` on the loop thread and return its result (reads made
        through ``read`` pace themselves on the loop).

        For requests that change nothing at IB (reads, market data; the gateways.ib modules use it too):
        every failure becomes one BrokerError line naming ``what``; BrokerUnavailable when not connected."""
        if not self._is_connected():
            raise not_connected(self._host, self._port, what)
        self._bucket.take(messages)
        try:
            return self._loop.run(work, self._request_timeout + 1)
        except BrokerError:
            raise
        except (LoopTimeout, TimeoutError) as error:
            raise BrokerError(f"IB Gateway at {self._host}:{self._port} did not answer within "
                              f"{self._request_timeout:g}s; {what}") from error
        except ConnectionError as error:
            raise not_connected(self._host, self._port, what) from error

    def queue(self, queue: Callable[[], T], what: str) -> T:
        """Run ``queue`` (which only checks and queues, on the loop thread) and return its result.

        Raises BrokerUnavailable when nothing was queued (not connected). A loop that did not run ``queue``
        in time may still run it: that outcome is unknown, never a failure of the order."""
        if not self._is_connected():
            raise not_connected(self._host, self._port, f"{what} not sent")
        try:
            return self._loop.run(queue, QUEUE_TIMEOUT_SECONDS)
        except BrokerError:
            raise
        except LoopTimeout as error:
            raise outcome_unknown(self._host, self._port, what, QUEUE_TIMEOUT_SECONDS) from error
        except ConnectionError as error:
            raise not_connected(self._host, self._port, f"{what} not sent") from error
