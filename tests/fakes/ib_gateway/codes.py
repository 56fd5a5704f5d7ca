"""IB's error codes and texts the fake gateway answers with, in one place.

Texts from IB's message-codes page (https://interactivebrokers.github.io/tws-api/message_codes.html)
and, where the page gives only a stem, from what IB Gateway users report (cited at each).
"""

from __future__ import annotations

# IB's "no request id" for a refused request that has none (ib_insync issue #1: read-only refusals
# at connect arrive with this id).
NO_REQUEST_ID = 2147483647

MAX_MESSAGE_RATE = 100
MAX_TICKERS = 101
DUPLICATE_ORDER_ID = 103
CANNOT_MODIFY_FILLED = 104
MODIFY_DOES_NOT_MATCH = 105
NOT_CANCELLABLE = 161
NO_SECURITY_DEFINITION = 200
ORDER_REJECTED = 201
ORDER_CANCELLED = 202
READ_ONLY = 321
AUTO_BIND_NOT_CLIENT_ZERO = 327
CANNOT_CHANGE_ORDER_TYPE = 329
MARKET_DATA_NOT_SUBSCRIBED = 354
PART_OF_MARKET_DATA_NOT_SUBSCRIBED = 10090
CANCEL_NOT_FOUND = 10147
CANCEL_NOT_POSSIBLE = 10148
DELAYED_MARKET_DATA = 10167
COMPETING_LIVE_SESSION = 10197
NO_SUCH_TICKER = 300

# A combo IB will not take. IB's text after "reason:" varies with the cause (no permission for combos, legs
# it will not combine, no SMART combo routing for them); this is one such text, not a quoted one.
COMBO_REJECTED_TEXT = "Order rejected - reason:Combination order is not supported for these legs"

TEXTS = {
    MAX_TICKERS: "Max number of tickers has been reached.",
    DUPLICATE_ORDER_ID: "Duplicate order id",
    CANNOT_MODIFY_FILLED: "Can't modify a filled order.",
    MODIFY_DOES_NOT_MATCH: "Order being modified does not match original order.",
    CANNOT_CHANGE_ORDER_TYPE: "Order modify failed. Cannot change to the new order type.",
    NO_SECURITY_DEFINITION: "No security definition has been found for the request",
    ORDER_REJECTED: "Order rejected - reason:The contract is not available for trading",
    ORDER_CANCELLED: "Order Canceled - reason:",
    AUTO_BIND_NOT_CLIENT_ZERO: "Only API connections with clientId set to 0 can set the auto bind TWS orders property.",
    # As IB Gateway sends them (the page lists only the first sentence).
    MARKET_DATA_NOT_SUBSCRIBED: "Requested market data is not subscribed. Check API status by selecting the Account "
                                "menu then under Management choose Market Data Subscription Manager and/or "
                                "availability of delayed data.",
    PART_OF_MARKET_DATA_NOT_SUBSCRIBED: "Part of requested market data is not subscribed. Subscription-independent "
                                        "ticks are still active.Delayed market data is not available.",
    DELAYED_MARKET_DATA: "Requested market data is not subscribed. Displaying delayed market data.",
    COMPETING_LIVE_SESSION: "No market data during competing live session",
    NO_SUCH_TICKER: "Can't find EId with tickerId:{req_id}",
}


def text(code: int) -> str:
    return TEXTS[code]


def order_text(code: int, perm_id: int) -> str:
    """IB's text for a refusal of a change to an order (161 names the order's permId)."""
    if code == NOT_CANCELLABLE:
        return f"Cancel attempted when order is not in a cancellable state. Order permId = {perm_id}"
    return text(code)


def has_order_text(code: int) -> bool:
    return code == NOT_CANCELLABLE or code in TEXTS


def read_only(token: str) -> str:
    # IB fills in a short request-type token ('bY', 'bh', 'cp' in reports: ib_insync #1, IBC #10).
    return f"Error validating request:-'{token}' : cause - The API interface is currently in Read-Only mode."


def cancel_not_found(order_id: int) -> str:
    return f"OrderId {order_id} that needs to be cancelled is not found."


def cancel_not_possible(order_id: int, state: str) -> str:
    return f"OrderId {order_id} that needs to be cancelled cannot be cancelled, state: {state}."


def max_message_rate(limit: int, received: int) -> str:
    # As IB sends it (e.g. "Max rate of messages per second has been exceeded:max=50 rec=138").
    return f"Max rate of messages per second has been exceeded:max={limit} rec={received}"


def exercise_refused(cause: str) -> str:
    return f"Error validating request:-'bE' : cause - {cause}"
