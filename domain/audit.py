"""Audit records: everything a trader wants to know afterwards, each with a unique action id.

The id makes every write idempotent: a record written again after a fault (spool replay, restart)
is recognised by the store and never counted twice. The run id says which process wrote it: empty
for the service, ``sim-...`` for one ``simulate`` run, so a simulation is never mistaken for trading
and a rerun never doubles another run's timeline.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

SERVICE_RUN = ""  # the run id of the service's own records
# NUL, and lone surrogates (no UTF-8 form): PostgreSQL refuses both in text and jsonb
# (psycopg2 raises ValueError / UnicodeEncodeError before sending; jsonb refuses "\u0000").
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
NUL_STANDIN = "\u2400"  # SYMBOL FOR NULL: the reader still sees that a NUL was there
SURROGATE_STANDIN = "\ufffd"  # REPLACEMENT CHARACTER


class ActionKind(StrEnum):
    WARN = "warn"
    CLOSE = "close"  # a closing order sent (or, with success=False, refused)
    FILL = "fill"  # a closing order filled (execution_price, slippage)
    COMMISSION = "commission"  # a commission IB reported after its fill was recorded (pnl_impact = -amount)
    REJECT = "reject"
    CANCEL = "cancel"
    CONVERT_STOP = "convert_stop"
    LAPSE = "lapse"  # a lapse instruction for a long still held at the close (success: taken or not refused)
    BREAKER = "breaker"
    KILL = "kill"
    MODE = "mode"
    COMMAND = "command"
    SETTLEMENT = "settlement"  # exercised / assigned / expired at the close (simulation and reconciliation)
    ESCALATION = "escalation"
    # The next morning's check of the previous session's expiration (domain.assignments, actors.assignment_desk):
    MORNING_CHECK = "morning_check"  # one per session checked: what vanished, the exposure and margin
    DELIVERY = "delivery"  # shares of one underlying an exercise or assignment delivered (quantity: signed shares)
    DISPOSAL = "disposal"  # an order flattening delivered shares at the open, and its fills


def new_action_id() -> str:
    return uuid.uuid4().hex


_IDENTITY_NAMESPACE = uuid.UUID("1b0c6f5e-9a3d-4c1e-8f2a-5d7e4b3c2a10")


def action_id_for(identity: str) -> str:
    """The same action id for the same thing (e.g. a fill's execId), however often it is recorded."""
    return uuid.uuid5(_IDENTITY_NAMESPACE, identity).hex


def new_run_id(started: datetime) -> str:
    """``sim-<UTC start>-<random>``: sorts by start time, unique even for runs started the same second."""
    return f"sim-{started.astimezone(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def storable_text(text: str) -> str:
    """Text any audit store accepts: NUL becomes U+2400, a lone surrogate U+FFFD; the rest is kept.

    Such text reaches records from outside (a control-socket command, a Telegram stranger's message,
    a broker's error string), and one refused record used to block every record behind it.
    """
    if not _UNSTORABLE.search(text):
        return text
    return _UNSTORABLE.sub(lambda match: NUL_STANDIN if match.group() == "\x00" else SURROGATE_STANDIN, text)


@dataclass(frozen=True)
class ActionRecord:
    action_id: str
    at: datetime
    action: ActionKind
    symbol: str = ""
    strike: float | None = None
    expiry: date | None = None
    right: str | None = None
    quantity: int | None = None  # signed position quantity, or order quantity for order actions
    account: str = ""
    mode: str = ""
    stage: str = ""
    reason: str = ""
    moneyness: float | None = None
    risk_score: float | None = None
    probability_itm: float | None = None
    order_ref: str | None = None
    order_id: str | None = None
    execution_price: float | None = None
    reference_mid: float | None = None
    slippage: float | None = None
    pnl_impact: float | None = None
    success: bool | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    run_id: str = SERVICE_RUN

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        data["expiry"] = self.expiry.isoformat() if self.expiry else None
        data["action"] = self.action.value
        return data

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> ActionRecord:
        values = dict(data)
        values["at"] = datetime.fromisoformat(values["at"])
        values["expiry"] = date.fromisoformat(values["expiry"]) if values.get("expiry") else None
        values["action"] = ActionKind(values["action"])
        return cls(**values)


@dataclass(frozen=True)
class AssessmentRecord:
    """A sampled risk assessment (not every tick) for the risk-assessments table and log."""

    at: datetime
    contract_key: str
    quantity: int
    spot: float
    moneyness: float
    risk_score: float
    probability_itm: float
    level: str
    stage: str
    action: str
    mode: str
    run_id: str = SERVICE_RUN
