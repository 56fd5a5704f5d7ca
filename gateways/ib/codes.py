"""IB message codes and order states the gateway acts on, as explicit tables.

Codes: https://interactivebrokers.github.io/tws-api/message_codes.html (and IBKR Campus, "API error
codes", which has the later ones such as 10186-10197)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.feed_errors import FeedErrorKind
from gateways.broker import OrderStatus
from gateways.ports import Connectivity

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


class MarketDataAnswer(StrEnum):
    """What IB does with a market-data request after sending one of the codes below for it."""

    REFUSED = "refused"  # nothing comes for it: IB dropped the request
    DELAYED = "delayed"  # IB streams delayed data instead of live: never used as live
    PARTIAL = "partial"  # live data comes, without some ticks (IB: "other default ticks will be returned")


@dataclass(frozen=True)
class MarketDataCode:
    kind: FeedErrorKind
    answer: MarketDataAnswer
    fix: str  # what the operator does; {product} names the data the instrument needs


_K, _A = FeedErrorKind, MarketDataAnswer
SUBSCRIBE = "subscribe to {product} for API use (Client Portal: Settings > Market Data Subscriptions)"
# Error codes IB sends with a market-data request's id (ib_async's errorEvent with the ticker's reqId).
# 162, 165 and 366 are historical-data codes: a streaming reqMktData never gets them.
MARKET_DATA_CODES: dict[int, MarketDataCode] = {
    354: MarketDataCode(_K.PERMISSION, _A.REFUSED, SUBSCRIBE),  # requested market data is not subscribed
    10089: MarketDataCode(_K.PERMISSION, _A.REFUSED, SUBSCRIBE),  # requires additional subscription for API
    10090: MarketDataCode(_K.PERMISSION, _A.PARTIAL, SUBSCRIBE),  # part of it is not subscribed (e.g. greeks)
    10091: MarketDataCode(_K.PERMISSION, _A.PARTIAL, SUBSCRIBE),  # part of it requires a subscription for API
    10167: MarketDataCode(_K.PERMISSION, _A.DELAYED, SUBSCRIBE),  # not subscribed, displaying delayed data
    10168: MarketDataCode(_K.PERMISSION, _A.REFUSED, SUBSCRIBE),  # not subscribed, delayed data not enabled
    10186: MarketDataCode(_K.PERMISSION, _A.REFUSED, SUBSCRIBE),  # the same, in IBKR Campus's table
    # The account's simultaneous market-data lines (100 by default) are used up. Its own kind: not a
    # missing subscription, and it eases as subscriptions are cancelled (prices.py cancels unused ones).
    101: MarketDataCode(_K.RATE_LIMITED, _A.REFUSED,
                        "IB's market-data line limit is reached: close market-data windows or other API programs "
                        "on this IB login, or add lines (Quote Booster)"),
    # IB serves live data to one session of a login at a time, and the live account before its paper twin.
    10197: MarketDataCode(_K.OUTAGE, _A.REFUSED,
                          "another session of this IB login (TWS, the mobile app, Client Portal, or the live "
                          "account of this paper account) holds the live data: log it out"),
    200: MarketDataCode(_K.MALFORMED, _A.REFUSED, "IB does not know this contract: check the position in TWS"),
}
# IB's marketDataType answer to a subscription (https://interactivebrokers.github.io/tws-api/market_data_type.html).
LIVE_DATA = 1
MARKET_DATA_TYPES = {1: "live", 2: "frozen", 3: "delayed", 4: "delayed frozen"}
