"""A small in-process trading desk that implements CommandTarget with real state and the real policy.

Shared by the command, control-socket and Telegram tests (this module holds no tests itself). Closing
is simulated as an immediate fill: positions really go to zero, so tests assert on what happened,
not on which methods were called.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from config.loader import load_settings
from config.schema import Settings
from domain.audit import ActionRecord
from domain.mode import Mode
from domain.model import OptionContract, Position, Quote
from domain.policy import Close, PolicyInput, StageAction, determine_actions
from domain.session import EASTERN, ExpirySession
from runtime.clock import VirtualClock

DAY = datetime(2026, 11, 27).date()  # an early-close day: 13:00 ET
CLOSE = datetime(2026, 11, 27, 13, 0, tzinfo=EASTERN)
SESSION = ExpirySession(DAY, CLOSE, datetime(2026, 11, 27, 16, 0, tzinfo=EASTERN))


def clock_at(minutes_before_close: float) -> VirtualClock:
    return VirtualClock(CLOSE - timedelta(minutes=minutes_before_close))


def default_positions() -> dict[str, int]:
    return {
        "SPY 20261127 635C": 3,  # spot 640: in the money
        "SPY 20261127 642P": -2,  # short put 0.3% in the money
        "SPY 20261127 660C": 1,  # far out of the money
        "SPY 20261204 640C": 5,  # next week's: never touched today
    }


class Desk:
    """CommandTarget with real state: positions, mode, kill switch, settings, and a log of closes."""

    def __init__(self, clock: VirtualClock, spot: float = 640.0, positions: dict[str, int] | None = None,
                 settings: Settings | None = None) -> None:
        self.clock = clock
        self.spot = spot
        self.positions = dict(default_positions() if positions is None else positions)
        self.mode = Mode.ACTIVE
        self.killed = False
        self.breaker_tripped = False
        self._settings = settings or load_settings(environ={}).settings
        self.closes: list[tuple[datetime, str, int]] = []  # (when, contract, quantity closed)
        self._lock = threading.Lock()

    # CommandTarget
    def status(self) -> dict[str, Any]:
        with self._lock:
            result = determine_actions(self._inputs())
            at_risk = [
                {"contract": a.contract.key, "quantity": a.quantity, "moneyness": a.moneyness,
                 "action": a.action.value}
                for a in result.assessments if a.action is not StageAction.NONE
            ]
            return {
                "mode": self.mode.value, "stage": result.stage.value, "minutes_to_close": result.minutes_to_close,
                "close": f"{CLOSE:%H:%M} ET", "kill_switch": self.killed, "breaker_tripped": self.breaker_tripped,
                "positions": sum(1 for q in self.positions.values() if q), "positions_at_risk": at_risk,
            }

    def set_mode(self, mode: Mode) -> None:
        with self._lock:
            self.mode = mode
            if mode is Mode.EMERGENCY and not self.killed:
                self._apply(determine_actions(self._inputs()).decisions)

    def kill(self) -> None:
        with self._lock:
            self.killed = True

    def resume(self) -> None:
        with self._lock:
            self.killed = False
            self.breaker_tripped = False

    def close(self, contract_key: str) -> str:
        with self._lock:
            if self.killed:
                raise ValueError("kill switch is on: no orders")
            quantity = self.positions.get(contract_key, 0)
            if not quantity:
                raise ValueError(f"no open position in {contract_key}")
            self._fill(contract_key, quantity)
            return f"closing {abs(quantity)} {contract_key}"

    def settings(self) -> Settings:
        return self._settings

    def apply_settings(self, new: Settings) -> None:
        self._settings = new

    # helpers
    def expiring_open(self) -> dict[str, int]:
        return {k: q for k, q in self.positions.items() if q and OptionContract.parse_key(k).expiry == DAY}

    def _inputs(self) -> PolicyInput:
        now = self.clock.now()
        positions = [Position(OptionContract.parse_key(k), q) for k, q in self.positions.items() if q]
        quotes = {p.contract.key: Quote(p.contract.key, 0.9, 1.1, 1.0, now, "desk") for p in positions}
        spot = Quote("SPY", self.spot - 0.01, self.spot + 0.01, self.spot, now, "desk")
        return PolicyInput(positions, [], {"SPY": spot}, quotes, now, SESSION, self.mode, self._settings.thresholds,
                           self._settings.rules)

    def _apply(self, decisions) -> None:
        for decision in decisions:
            if isinstance(decision, Close):
                self._fill(decision.contract.key, self.positions[decision.contract.key])

    def _fill(self, key: str, quantity: int) -> None:
        self.positions[key] = 0
        self.closes.append((self.clock.now(), key, quantity))


class AuditLog(list):
    """The audit sink: a list of ActionRecords, callable like the real sink."""

    def __call__(self, record: ActionRecord) -> None:
        self.append(record)

    def reasons(self) -> list[str]:
        return [r.reason for r in self]
