"""Messages the actors exchange. Frozen, so they cross threads without copies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from domain.model import Position, Quote, WorkingOrder
from domain.policy import Decision, Mode


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


@dataclass(frozen=True)
class Decisions:
    decisions: tuple[Decision, ...]
    at: datetime
    mode: Mode
    # Fresh quotes of contracts we have working orders in: the price walk follows the market.
    quotes: Mapping[str, Quote] = field(default_factory=dict)


@dataclass(frozen=True)
class PollNow:
    """Read positions at once (after a fill, after a reconnect)."""

    reason: str


@dataclass(frozen=True)
class Failure:
    at: datetime
    reason: str


@dataclass(frozen=True)
class ManualClose:
    contract_key: str
    at: datetime


@dataclass(frozen=True)
class Ping:
    """Liveness probe from the supervisor's watchdog."""
