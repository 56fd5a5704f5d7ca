"""Executions (fills) as IB reports them, and which of them a reqExecutions filter lets through.

Time format: below server version 200 IB sends an execution's time without a zone as
``YYYYMMDD-HH:MM:SS`` in UTC (ib_insync #671: '20231214-20:57:37' for a 15:57:37 ET fill;
ib_async #230, rust-ibapi #387: the zone is only added from version 200). ib_async 2.1.0 parses it
as a naive time and converts it as if it were in the host's local zone (or in ``IB.TimezoneTWS``
when that is set): it reads right only on a UTC host or with ``TimezoneTWS = "UTC"``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tests.fakes.ib_gateway.contracts import FakeContract
from tests.fakes.ib_gateway.requests import ExecutionFilterRequest

EXCHANGE = "CBOE"  # where the fake's executions happen
TWS_TIMEZONE = "UTC"  # the fake's login time zone (its handshake says UTC): zone-less filter times are in it


@dataclass(frozen=True)
class Execution:
    exec_id: str
    order_id: int  # the id the owning client knows the order by
    perm_id: int
    client_id: int
    contract: FakeContract
    side: str  # BOT / SLD
    shares: int
    price: float
    cum_qty: int
    avg_price: float
    order_ref: str
    commission: float | None  # None: a combo's own (BAG) execution, whose legs carry the commission
    at: float  # epoch seconds, by the gateway's clock
    account: str

    @property
    def time_text(self) -> str:
        return ib_time(self.at)


def ib_time(epoch_seconds: float) -> str:
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(epoch_seconds))


def filter_time(text: str) -> float | None:
    """An ExecutionFilter time as epoch seconds: ``yyyymmdd-hh:mm:ss`` (UTC) or ``yyyymmdd hh:mm:ss [zone]``."""
    text = text.strip()
    if not text:
        return None
    if "-" in text[:9]:
        return datetime.strptime(text, "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC).timestamp()
    day, clock, *zone = text.split()
    local = datetime.strptime(f"{day} {clock}", "%Y%m%d %H:%M:%S")
    return local.replace(tzinfo=ZoneInfo(zone[0] if zone else TWS_TIMEZONE)).timestamp()


def admits(query: ExecutionFilterRequest, execution: Execution) -> bool:
    """Does IB return this execution for this filter? Empty fields and client id 0 filter nothing."""
    since = filter_time(query.time)
    side = {"BUY": "BOT", "SELL": "SLD"}.get(query.side.upper(), query.side.upper())
    c = execution.contract
    return ((not query.client_id or query.client_id == execution.client_id)
            and (not query.account or query.account == execution.account)
            and (since is None or execution.at >= since)  # IB: executions "reported after" the time, to the second
            and (not query.symbol or query.symbol.upper() == c.symbol)
            and (not query.sec_type or query.sec_type.upper() == c.sec_type)
            and (not query.exchange or query.exchange.upper() == EXCHANGE)
            and (not side or side == execution.side))
