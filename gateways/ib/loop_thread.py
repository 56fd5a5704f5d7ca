"""One asyncio event loop in one dedicated thread: ib_async lives there and nowhere else.

ib_async is not thread-safe. Callers in other threads (pykka actors) hand coroutines or plain
callables to ``run``, which executes them on the loop and waits, bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")


class LoopTimeout(Exception):
    """The loop did not finish the call in time; its outcome is unknown."""


class LoopThread:
    def __init__(self, name: str = "ib-gateway-loop") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("loop thread not started")
        return self._loop

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        ready = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(ready,), name=self._name, daemon=True)
        self._thread.start()
        ready.wait(5)

    def _main(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)  # ib_async's getLoop() looks here
        self._loop = loop
        ready.set()
        loop.run_forever()
        # Tasks still waiting (the order outbox, a reconnect) end with the loop, not with a warning at exit.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    def in_loop(self) -> bool:
        return self._thread is threading.current_thread()

    # Overloads, so that mypy infers T from a coroutine function's result (the union alone infers Never).
    @overload
    def run(self, work: Callable[[], Awaitable[T]], timeout: float) -> T: ...

    @overload
    def run(self, work: Callable[[], T], timeout: float) -> T: ...

    def run(self, work: Callable[[], Awaitable[T]] | Callable[[], T], timeout: float) -> T:
        """Run ``work()`` on the loop (awaiting it if it returns an awaitable) and return the result."""
        if self.in_loop():
            raise RuntimeError("LoopThread.run called from the loop thread itself: it would deadlock")

        async def call() -> T:
            result = work()
            if asyncio.isfuture(result) or asyncio.iscoroutine(result):
                return await result  # type: ignore[no-any-return]
            return result  # type: ignore[return-value]

        future = asyncio.run_coroutine_threadsafe(call(), self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError as error:
            future.cancel()
            raise LoopTimeout(f"no answer within {timeout:g}s") from error

    def call_soon(self, fn: Callable[[], object]) -> None:
        self.loop.call_soon_threadsafe(fn)

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self._loop = None
        self._thread = None
