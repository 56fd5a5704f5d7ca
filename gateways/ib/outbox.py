"""Order sends queued on the IB loop and paced there, so that no caller ever waits on IB.

Placing, modifying and cancelling return as soon as the request is queued; the outcome arrives as
events. One slow answer from IB (10-21 s have been seen) used to hold the Executor, and with it every
other close at T-2; and 1,000 closes at 45 messages a second take 22 s of pacing that the Executor
must not spend waiting. Jobs run one at a time, in the order queued, each taking its message tokens
from the same bucket as every other request of the connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from gateways.ib.token_bucket import TokenBucket

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class Outbox:
    def __init__(self, bucket: TokenBucket) -> None:
        self._bucket = bucket
        self._queue: asyncio.Queue[Job] | None = None
        self._worker: asyncio.Task[None] | None = None

    def submit(self, job: Job) -> None:
        """Queue ``job`` (loop thread only); it runs after every job queued before it."""
        if self._queue is None or self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._work(self._queue))
        self._queue.put_nowait(job)

    async def pace(self, messages: int = 1) -> None:
        """Wait, without blocking the loop, until ``messages`` may be sent under IB's rate."""
        while (wait := self._bucket.try_take(messages)) > 0:
            await asyncio.sleep(wait)

    async def _work(self, queue: asyncio.Queue[Job]) -> None:
        while True:
            job = await queue.get()
            try:
                await job()
            except Exception:  # one job's bug must not stop the orders queued behind it
                log.exception("order send failed")
