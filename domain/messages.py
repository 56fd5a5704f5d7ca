"""Messages the actors exchange. Frozen, so they cross threads without copies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from domain.book import Book, OwnFill
from domain.lapse import LapsePlan
from domain.mode import Mode
from domain.model import Execution, OptionContract, Position, Quote, WorkingOrder
from domain.policy import Decision, PolicyResult
from domain.stages import Stage


@dataclass(frozen=True)
class Tick:
    """The heartbeat: every actor with time-driven work does it on a tick (1 s in production)."""

    now: datetime


@dataclass(frozen=True)
class MarketUpdate:
    spots: Mapping[str, Quote]  # the underlyings quoted this poll, by symbol (none when the feed failed)
    options: Mapping[str, Quote]
    source: str
    at: datetime


@dataclass(frozen=True)
class PositionsSnapshot:
    positions: tuple[Position, ...]
    orders: tuple[WorkingOrder, ...]
    taken_at: datetime
    # Today's executions of our orders, read (before the orders) after a start or a reconnect; None
    # when this read did not ask for them.
    executions: tuple[Execution, ...] | None = None


@dataclass(frozen=True)
class Decisions:
    decisions: tuple[Decision, ...]
    at: datetime
    mode: Mode
    # Fresh quotes of contracts we have working orders in: the price walk follows the market.
    quotes: Mapping[str, Quote] = field(default_factory=dict)


@dataclass(frozen=True)
class PollNow:
    """Read positions at once (after a fill, a cancel, a reconnect)."""

    reason: str
    with_executions: bool = False  # also today's executions (a restarted Executor rebuilds from them)


@dataclass(frozen=True)
class Failure:
    at: datetime
    reason: str
    source: str  # the contract it failed for: the breaker counts failures across contracts


@dataclass(frozen=True)
class BookUpdate:
    """The Executor's book after a change (a read, a fill, an order of ours): the one the policy sizes from."""

    book: Book
    new_fills: tuple[OwnFill, ...] = ()  # executions of our orders taken in by this change


@dataclass(frozen=True)
class ForgiveFailures:
    """A person resumed trading (ctl resume): contracts given up after refusals are tried again."""


@dataclass(frozen=True)
class ManualClose:
    contract_key: str
    at: datetime


@dataclass(frozen=True)
class StatusQuery:
    """From the control plane to the RiskAssessor: what it holds now, answered on the assessor's thread."""


@dataclass(frozen=True)
class AssessorSnapshot:
    """The RiskAssessor's view at one instant, for status and the TUI: copies, so no thread reads its live state."""

    book: Book
    spots: Mapping[str, Quote]
    source: str
    result: PolicyResult | None
    closes_at: Mapping[OptionContract, Stage | None]  # domain.policy.closing_forecast of each assessment


@dataclass(frozen=True)
class Ping:
    """Liveness probe from the supervisor's watchdog."""


@dataclass(frozen=True)
class LapseRequest:
    """From the session's settlement to the LapseDesk: the longs to lapse (and those already too late)."""

    plan: LapsePlan
    at: datetime


@dataclass(frozen=True)
class SessionSettled:
    """From the session's settlement to the AssignmentDesk: what the evening record keeps for the next morning."""

    still_open: tuple[Position, ...]  # the session's expiring options still open at the close
    closing_prices: Mapping[str, float]  # each underlying's price at the close (one may be missing)
    at: datetime


@dataclass(frozen=True)
class OrderSent:
    """From the Executor to the CircuitBreaker: an order or a price change went to the broker (the ratio's
    denominator: domain.breaker)."""

    at: datetime


@dataclass(frozen=True)
class InjectCrash:
    """Fault injection (simulation scenarios, tests): the actor raises on receipt."""

    reason: str = "injected crash"


@dataclass(frozen=True)
class ResetBreaker:
    """A person resumed trading: the circuit breaker forgets its failures and opens the gate."""

    who: str
