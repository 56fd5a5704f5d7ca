"""How the gateway retries a lost connection: exponential backoff with jitter, forever.

Jitter keeps several clients (or a restarted process) from hammering IB Gateway in lockstep after
its nightly restart. Tests shrink the delays; production uses the defaults.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tenacity import AsyncRetrying, retry_if_exception_type, stop_never, wait_exponential, wait_random

from gateways.broker import BrokerError

log = logging.getLogger(__name__)

RETRYABLE = (OSError, ConnectionError, TimeoutError, BrokerError)


@dataclass(frozen=True)
class ReconnectPolicy:
    initial_seconds: float = 1.0
    max_seconds: float = 60.0
    jitter_seconds: float = 1.0

    def retrying(self) -> AsyncRetrying:
        return AsyncRetrying(
            wait=wait_exponential(multiplier=self.initial_seconds, max=self.max_seconds)
            + wait_random(0, self.jitter_seconds),
            retry=retry_if_exception_type(RETRYABLE),
            stop=stop_never,
            before_sleep=lambda state: log.warning(
                "IB reconnect attempt %d failed: %s", state.attempt_number,
                state.outcome.exception() if state.outcome else "?"),
            reraise=True,
        )
