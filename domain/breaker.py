"""The circuit breaker's rule: failures across contracts halt order flow until a person resets it.

More than N failures within the window trips it (the seed's >5 in 60 s), when they come from at
least two contracts and are at least ``min_failure_ratio`` of the orders sent in that window. One
contract that keeps failing (an illiquid strike, a contract IB will not trade) is isolated by the
Executor instead (its attempts end and it pages critical): letting it trip the breaker halted every
other position's close at T-2. The ratio keeps a big day's ordinary rejects from halting it: on a
day of 500 closes in a minute, 2 % of them refused is ten failures, and a breaker that trips on
them leaves hundreds of positions to be exercised; failures that are a large share of what was
sent point at the account, the broker or the service, and that is what the breaker is for. With a
ratio of 0 it is the seed's count alone. A reset (``ctl resume``, Telegram ``/resume``) clears it;
it never resets by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class BreakerState:
    failures: tuple[tuple[datetime, str], ...] = ()  # (when, which contract)
    tripped: bool = False
    reason: str = ""
    sent: tuple[datetime, ...] = ()  # orders and price changes sent to the broker, within the window


def record_order(state: BreakerState, at: datetime, window_seconds: float) -> BreakerState:
    """One order (or price change) sent: the denominator of the failure ratio."""
    window_start = at - timedelta(seconds=window_seconds)
    sent = tuple(t for t in state.sent if t > window_start) + (at,)
    return BreakerState(state.failures, state.tripped, state.reason, sent)


def record_failure(state: BreakerState, at: datetime, source: str, max_failures: int,
                   window_seconds: float, min_failure_ratio: float = 0.0) -> BreakerState:
    window_start = at - timedelta(seconds=window_seconds)
    failures = tuple(f for f in state.failures if f[0] > window_start) + ((at, source),)
    sent = tuple(t for t in state.sent if t > window_start)
    sources = {s for _, s in failures}
    # A failure with nothing sent in the window (a walk of an older order refused) counts as all of it.
    ratio = len(failures) / len(sent) if sent else 1.0
    if state.tripped or len(failures) <= max_failures or len(sources) < 2 or ratio < min_failure_ratio:
        return BreakerState(failures, state.tripped, state.reason, sent)
    return BreakerState(failures, True, f"{len(failures)} failures within {window_seconds:g} s "
                                        f"across {len(sources)} contracts"
                                        + (f", {ratio:.0%} of the {len(sent)} orders sent" if sent else ""), sent)
