"""IB message codes and order states the gateway acts on, as explicit tables.

Codes: https://interactivebrokers.github.io/tws-api/message_codes.html
"""

from __future__ import annotations

from enum import StrEnum

from gateways.broker import OrderStatus


class Connectivity(StrEnum):
    CONNECTED = "connected"
    LOST = "lost"  # socket up, but IB Gateway lost IB's servers (1100): no orders go out
    DISCONNECTED = "disconnected"  # socket to IB Gateway down: reconnecting
    CLOSED = "closed"  # disconnect() was called: no reconnect


# Codes IB sends as error messages with request id -1 that change the connection's state.
CONNECTIVITY_CODES: dict[int, Connectivity] = {
    1100: Connectivity.LOST,  # Connectivity between IB and TWS has been lost
    1101: Connectivity.CONNECTED,  # restored, data lost: market data must be re-requested
    1102: Connectivity.CONNECTED,  # restored, data maintained
}
DATA_LOST_CODES = frozenset({1101})
# Warnings about IB Gateway's own link to IB's servers that change no state. 2110 ("Connectivity
# between TWS and server is broken. It will be restored automatically.") is in the *warning* table
# of the message-codes page above, documented as "usually only during the IB nightly server reset";
# the page names no code that signals its recovery (1101/1102 answer 1100 only), so marking the
# connection LOST on it could leave it LOST for good. A real outage of the server link is 1100.
SERVER_LINK_WARNINGS = frozenset({2110})

# IB's answer to any order (a whatIf included) while IB Gateway's "Read-Only API" box is ticked:
# "Error validating request:-'bN' : cause - The API interface is currently in Read-Only mode."
READ_ONLY = 321
READ_ONLY_TEXT = "Read-Only"
# IB's error that goes with the Cancelled status of an order we asked to cancel.
CANCEL_CONFIRMED_CODES = frozenset({202})


def is_read_only(code: int, text: str) -> bool:
    return code == READ_ONLY and READ_ONLY_TEXT.lower() in text.lower()


# ib_async's order statuses -> ours. An IB error on an order reaches us as ib_async's own inference
# (order_tracker.py settles those with IB's open-order list), never through this table.
WORKING_STATES = {"PendingSubmit", "ApiPending", "PreSubmitted", "Submitted", "PendingCancel"}
STATUS_TABLE: dict[str, OrderStatus] = {
    **{state: OrderStatus.SUBMITTED for state in WORKING_STATES},
    "Filled": OrderStatus.FILLED,
    "Cancelled": OrderStatus.CANCELLED,
    "ApiCancelled": OrderStatus.CANCELLED,
    "Inactive": OrderStatus.REJECTED,  # IB parks refused orders as Inactive
}


def order_status(ib_status: str, filled: float, remaining: float) -> OrderStatus:
    """Our status for one IB order, from the status IB sent for it."""
    status = STATUS_TABLE.get(ib_status, OrderStatus.UNKNOWN)
    if status is OrderStatus.SUBMITTED and filled > 0 and remaining > 0:
        return OrderStatus.PARTIALLY_FILLED
    return status
