"""Alerts about our orders that a person must act on: a contract given up, the last guard, orders we may not change."""

from __future__ import annotations

from domain.alerts import Alert, Severity


def contract_given_up(contract_key: str, failures: int, last_error: str) -> Alert:
    return Alert(Severity.CRITICAL, f"Giving up on {contract_key}: close it by hand",
                 f"{failures} orders or changes for {contract_key} were refused (last: {last_error}). The service "
                 "stops trying this contract, and only this one, so the others still close; close it in TWS or "
                 "with `cleanup-manager ctl close` once the cause is fixed.",
                 f"given-up:{contract_key}")


def guard_fired(contract_key: str, detail: str) -> Alert:
    return Alert(Severity.CRITICAL, f"Order held back: it could have opened a position in {contract_key}",
                 f"The broker's last guard refused an order: {detail}. Nothing was sent. This should never "
                 "happen; check the positions and working orders of this contract in TWS now.",
                 f"guard:{contract_key}")


def foreign_own_order(contract_key: str, order_ref: str, order_id: str, owner: str) -> Alert:
    return Alert(Severity.WARNING, f"Our order for {contract_key} belongs to {owner}",
                 f"Order {order_ref} (id {order_id}) was placed by this service under {owner}, not the client id "
                 "it runs with now, and IB lets only that client change it. It keeps working at its price and "
                 "counts against the position, so nothing more is sent for what it covers. To walk its price, "
                 "run with that ib_client_id again, or change or cancel it in TWS.",
                 f"foreign-own:{order_ref}")


def read_only_api(reason: str) -> Alert:
    return Alert(Severity.CRITICAL, "IB Gateway's API is read-only: nothing can be closed",
                 f"{reason}. Every order is refused, so the service cannot close anything at the bell and "
                 "trading is halted (active and emergency mode refused). Fix it now: in IB Gateway, Configure > "
                 "Settings > API > Settings, untick \"Read-Only API\" (TWS: File > Global Configuration > API > "
                 "Settings); the service resumes by itself at the next connection that takes orders.",
                 "read-only:on")
