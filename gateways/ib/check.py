"""`cleanup-manager run --check`: connect once, print what IB Gateway holds and what needs a look, disconnect."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from ib_async import Position as IBPosition

from config.schema import Settings
from domain.clock import Clock
from domain.model import Position, WorkingOrder
from domain.session import EASTERN
from gateways.ib.broker import IBBroker

EXPIRED = "expired: IB removes it overnight; check for exercise or assignment"
WRITE_ACCESS = {
    True: "orders: accepted (a what-if order was answered)",
    False: "orders: REFUSED, the API is read-only: untick Read-Only API in IB Gateway (Configure > Settings > API > "
           "Settings); active and emergency mode cannot close anything until then",
    None: "orders: not confirmed (IB did not answer the what-if order in time)",
}


def check_gateway(settings: Settings, clock: Clock, *, connect_timeout: float = 5.0) -> str:
    """A printable report of what IB Gateway holds; raises BrokerError (one line) when unreachable."""
    broker = IBBroker(settings, clock, connect_timeout=connect_timeout)
    broker.connect()
    try:
        positions = broker.positions()
        others = broker.other_positions()
        orders = broker.working_orders()
        writable = broker.write_access()
    finally:
        broker.disconnect()
    lines = [f"IB Gateway {broker.address} (client id {settings.ib_client_id}): connected",
             f"account: {broker.account()}", WRITE_ACCESS[writable]]
    lines += _option_lines(positions, clock.now().astimezone(EASTERN).date())
    lines += _other_lines(others)
    lines += _order_lines(orders)
    lines.append(f"API messages sent: {broker.messages_sent()}")
    return "\n".join(lines)


def _option_lines(positions: Sequence[Position], today: date) -> list[str]:
    """Expiry is a date in New York: a contract of an earlier day has expired, whatever the hour here."""
    lines = [f"option positions: {len(positions)}"]
    for p in positions:
        flag = f"  {EXPIRED}" if p.contract.expiry < today else ""
        lines.append(f"  {p.contract.key:<22} {p.quantity:+d}  avg cost {p.avg_cost:.2f}{flag}")
    return lines


def _other_lines(positions: Sequence[IBPosition]) -> list[str]:
    """Shares (from an exercise or assignment) and anything else: the service never trades them."""
    lines = [f"stock and other positions: {len(positions)}"]
    lines += [f"  {p.contract.symbol:<8} {p.contract.secType:<4} {p.position:+g}  avg cost {p.avgCost:.2f}"
              for p in positions]
    return lines


def _order_lines(orders: Sequence[WorkingOrder]) -> list[str]:
    lines = [f"working orders: {len(orders)}"]
    for o in orders:
        price = " ".join(part for part in (
            f"lmt {o.limit_price:.2f}" if o.limit_price is not None else "",
            f"stop {o.stop_price:.2f}" if o.stop_price is not None else "") if part)
        lines.append(f"  #{o.order_id:<6} {o.side.value:<4} {o.quantity} {o.contract.key:<22} {o.order_type.value:<7} "
                     f"{price:<20} filled {o.filled}/{o.quantity}  ref {o.order_ref or '-'}  by {o.owner or '?'}")
    return lines
