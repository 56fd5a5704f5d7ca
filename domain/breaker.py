"""The circuit breaker's rule: failures across contracts halt order flow until a person resets it.

More than N failures within the window trips it, when they come from at least two contracts. One
contract that keeps failing (an illiquid strike, a contract IB will not trade) is isolated by the
Executor instead (its attempts end and it pages critical): letting it trip the breaker halted every
other position's close at T-2. Failures spread over contracts point at the account, the broker or
the service, and that is what the breaker is for. A reset (``ctl resume``, Telegram ``/resume``)
clears it; it never resets by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class BreakerState:
    failures: tuple[tuple[datetime, str], ...] = ()  # (when, which contract)
    tripped: bool = False
    reason: str = ""


def record_failure(state: BreakerState, at: datetime, source: str, max_failures: int,
                   window_seconds: float) -> BreakerState:
    window_start = at - timedelta(seconds=window_seconds)
    failures = tuple(f for f in state.failures if f[0] > window_start) + ((at, source),)
    sources = {s for _, s in failures}
    if state.tripped or len(failures) <= max_failures or len(sources) < 2:
        return BreakerState(failures, state.tripped, state.reason)
    return BreakerState(failures, True, f"{len(failures)} failures within {window_seconds:g} s "
                                        f"across {len(sources)} contracts")
