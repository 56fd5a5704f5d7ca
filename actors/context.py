"""What every actor is given: how to reach its peers, the clock, and the live configuration."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from config.schema import Settings
from domain.clock import Clock
from domain.mode import Mode
from domain.session import ExpirySession
from gateways.metrics import Metrics
from supervisor import Registry, StateKeeper, TradingGate


class LiveConfig:
    """Settings and mode that change while running (commands), read by actors on every use."""

    def __init__(self, settings: Settings) -> None:
        self._lock = threading.Lock()
        self._settings = settings
        self._mode = settings.mode if settings.enabled else Mode.MONITOR

    @property
    def settings(self) -> Settings:
        with self._lock:
            return self._settings

    @property
    def mode(self) -> Mode:
        with self._lock:
            return self._mode

    def set_mode(self, mode: Mode) -> None:
        with self._lock:
            self._mode = mode if self._settings.enabled else Mode.MONITOR

    def apply(self, settings: Settings) -> None:
        with self._lock:
            self._settings = settings


class Roles:
    PRICE_FEED = "price_feed"
    POSITION_POLLER = "position_poller"
    RISK_ASSESSOR = "risk_assessor"
    EXECUTOR = "executor"
    CIRCUIT_BREAKER = "circuit_breaker"
    AUDIT_LOGGER = "audit_logger"
    NOTIFIER = "notifier"
    LAPSE_DESK = "lapse_desk"
    ASSIGNMENT_DESK = "assignment_desk"


@dataclass
class ActorContext:
    registry: Registry
    keeper: StateKeeper
    gate: TradingGate
    clock: Clock
    config: LiveConfig
    session: ExpirySession
    metrics: Metrics
    report_failure: Callable[[str, BaseException, list[Any]], None]
    account: str = ""
