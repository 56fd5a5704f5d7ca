"""The evening record: what the next morning's check needs to know of an expiration session.

Taken once the session has settled (after the bell, ``SETTLE_AFTER_CLOSE``) and written to the audit store
through the durable spool, because the service exits at the 17:30 ET cut-off and the morning check runs in a
new process, possibly after a weekend or a holiday (Friday's expiration, Monday's morning). The closing fills
are in the audit already; the record holds what they left: the expiring options still open, the shares the
account held before any exercise or assignment, and each underlying's price at the close.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from domain.audit import SERVICE_RUN
from domain.model import OptionContract, Position, StockPosition


@dataclass(frozen=True)
class EveningRecord:
    session_day: date
    recorded_at: datetime
    options: tuple[Position, ...]  # the session's expiring options still open at the close (signed)
    stock: tuple[StockPosition, ...]  # the shares held at the close: the trader's, never attributed
    closing_prices: Mapping[str, float] = field(default_factory=dict)  # by underlying; one may be missing
    account: str = ""
    run_id: str = SERVICE_RUN

    def stock_before(self) -> dict[str, int]:
        return {s.symbol: s.shares for s in self.stock if s.shares}

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "session_day": self.session_day.isoformat(), "recorded_at": self.recorded_at.isoformat(),
            "options": [{"contract": p.contract.key, "quantity": p.quantity, "avg_cost": p.avg_cost,
                         "multiplier": p.multiplier} for p in self.options],
            "stock": [{"symbol": s.symbol, "shares": s.shares, "avg_cost": s.avg_cost} for s in self.stock],
            "closing_prices": dict(self.closing_prices), "account": self.account, "run_id": self.run_id,
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> EveningRecord:
        """Raises ValueError, KeyError or TypeError for data that is not a record."""
        return cls(
            session_day=date.fromisoformat(data["session_day"]),
            recorded_at=datetime.fromisoformat(data["recorded_at"]),
            options=tuple(Position(OptionContract.parse_key(o["contract"]), int(o["quantity"]), float(o["avg_cost"]),
                                   int(o["multiplier"])) for o in data["options"]),
            stock=tuple(StockPosition(s["symbol"], int(s["shares"]), float(s["avg_cost"])) for s in data["stock"]),
            closing_prices={str(k): float(v) for k, v in data["closing_prices"].items()},
            account=str(data.get("account", "")), run_id=str(data.get("run_id", SERVICE_RUN)))
