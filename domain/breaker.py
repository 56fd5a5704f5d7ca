"""The circuit breaker's rule: more than N failures within a window halts order flow until reset."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class BreakerState:
    failures: tuple[datetime, ...] = ()
    tripped: bool = False
    reason: str = ""


def record_failure(state: BreakerState, at: datetime, max_failures: int, window_seconds: float) -> BreakerState:
    window_start = at - timedelta(seconds=window_seconds)
    failures = tuple(t for t in state.failures if t > window_start) + (at,)
    if state.tripped or len(failures) <= max_failures:
        return BreakerState(failures, state.tripped, state.reason)
    return BreakerState(failures, True, f"{len(failures)} failures within {window_seconds:g} s")


def reset(_: BreakerState) -> BreakerState:
    return BreakerState()


def recent_failures(state: BreakerState) -> Sequence[datetime]:
    return state.failures
