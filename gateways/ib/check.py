"""`cleanup-manager run --check`: connect once, print account, positions and working orders, disconnect."""

from __future__ import annotations

from config.settings import Settings
from gateways.ib.broker import IBBroker
from runtime.clock import WallClock


def check_gateway(settings: Settings, *, connect_timeout: float = 5.0) -> str:
    """A printable report of what IB Gateway holds; raises BrokerError (one line) when unreachable."""
    broker = IBBroker(settings, WallClock(), connect_timeout=connect_timeout)
    broker.connect()
    try:
        positions = broker.positions()
        orders = broker.working_orders()
    finally:
        broker.disconnect()
    lines = [f"IB Gateway {broker.address} (client id {settings.ib_client_id}): connected",
             f"account: {broker.account()}",
             f"option positions: {len(positions)}"]
    lines += [f"  {p.contract.key:<22} {p.quantity:+d}  avg cost {p.avg_cost:.2f}" for p in positions]
    lines.append(f"working orders: {len(orders)}")
    for o in orders:
        price = " ".join(part for part in (
            f"lmt {o.limit_price:.2f}" if o.limit_price is not None else "",
            f"stop {o.stop_price:.2f}" if o.stop_price is not None else "") if part)
        lines.append(f"  #{o.order_id:<6} {o.side.value:<4} {o.quantity} {o.contract.key:<22} {o.order_type.value:<7} "
                     f"{price:<20} filled {o.filled}/{o.quantity}  ref {o.order_ref or '-'}")
    lines.append(f"API messages sent: {broker.messages_sent()}")
    return "\n".join(lines)
