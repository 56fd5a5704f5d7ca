"""Messages the fake gateway sends, as field lists, laid out as ib_async's decoder reads them.

Field order follows ``ib_async/decoder.py`` at the server version the fake announces (176: after
the contract-details and error-message changes of 164/166, before the faProfile removal of 177).
Every function is pure: it returns the fields; ``wire.frame`` turns them into bytes.
"""

from __future__ import annotations

from tests.fakes.ib_gateway.contracts import FakeContract
from tests.fakes.ib_gateway.executions import EXCHANGE, Execution
from tests.fakes.ib_gateway.script import FakeOrder
from tests.fakes.ib_gateway.whatif import WhatIfState

SERVER_VERSION = 176

# Incoming message ids (client -> gateway), from ib_async/client.py.
REQUEST_NAMES = {
    1: "reqMktData", 2: "cancelMktData", 3: "placeOrder", 4: "cancelOrder", 5: "reqOpenOrders",
    6: "reqAccountUpdates", 7: "reqExecutions", 8: "reqIds", 9: "reqContractDetails",
    15: "reqAutoOpenOrders", 21: "exerciseOptions", 16: "reqAllOpenOrders", 17: "reqManagedAccts", 49: "reqCurrentTime",
    59: "reqMarketDataType", 61: "reqPositions", 62: "reqAccountSummary", 63: "cancelAccountSummary",
    64: "cancelPositions", 71: "startApi", 76: "reqAccountUpdatesMulti", 77: "cancelAccountUpdatesMulti",
    99: "reqCompletedOrders",
}

TICK_BID, TICK_ASK, TICK_LAST = 1, 2, 4
TICK_MODEL_OPTION = 13  # model option computation: implied vol and greeks
# The same ticks when the line is delayed (marketDataType 3 / 4): IB's delayed tick types.
DELAYED_TICKS = {TICK_BID: 66, TICK_ASK: 67, TICK_LAST: 68, TICK_MODEL_OPTION: 83}
LIVE, FROZEN, DELAYED, DELAYED_FROZEN = 1, 2, 3, 4  # marketDataType


def contract_fields(c: FakeContract) -> list[object]:
    """The 11-field contract block of openOrder, position and execDetails (no primary exchange)."""
    return [c.con_id, c.symbol, c.sec_type, c.expiry, c.strike, c.right, c.multiplier, c.exchange,
            c.currency, c.local_symbol, c.trading_class]


def handshake_reply(connection_time: str) -> list[object]:
    return [SERVER_VERSION, connection_time]


def next_valid_id(order_id: int) -> list[object]:
    return [9, 1, order_id]


def managed_accounts(accounts: list[str]) -> list[object]:
    return [15, 1, ",".join(accounts)]


def error(req_id: int, code: int, message: str) -> list[object]:
    return [4, 2, req_id, code, message, ""]  # last: advancedOrderRejectJson (server >= 166)


# IB's texts for the connectivity codes (https://interactivebrokers.github.io/tws-api/message_codes.html).
CONNECTIVITY_MESSAGES = {
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    1101: "Connectivity between IB and Trader Workstation has been restored - data lost.",
    1102: "Connectivity between IB and Trader Workstation has been restored - data maintained.",
    2110: "Connectivity between Trader Workstation and server is broken. It will be restored automatically.",
}


def connectivity(code: int) -> list[object]:
    return error(-1, code, CONNECTIVITY_MESSAGES[code])


def current_time(epoch_seconds: int) -> list[object]:
    return [49, 1, epoch_seconds]


def position(account: str, contract: FakeContract, quantity: float, avg_cost: float) -> list[object]:
    return [61, 3, account, *contract_fields(contract), quantity, avg_cost]


def position_end() -> list[object]:
    return [62, 1]


def account_value(key: str, value: str, currency: str, account: str) -> list[object]:
    return [6, 2, key, value, currency, account]


def account_download_end(account: str) -> list[object]:
    return [54, 1, account]


def account_update_multi_end(req_id: int) -> list[object]:
    return [74, 1, req_id]


def account_summary(req_id: int, account: str, tag: str, value: str, currency: str) -> list[object]:
    return [63, 1, req_id, account, tag, value, currency]


def account_summary_end(req_id: int) -> list[object]:
    return [64, 1, req_id]


def completed_orders_end() -> list[object]:
    return [102]


def contract_details(req_id: int, c: FakeContract) -> list[object]:
    return [
        10, req_id, c.symbol, c.sec_type, c.expiry, c.strike, c.right, c.exchange, c.currency,
        c.local_symbol, c.trading_class,  # marketName
        c.trading_class, c.con_id, 0.01,  # minTick
        c.multiplier, ORDER_TYPES, "SMART,CBOE,AMEX", 1, c.under_con_id,
        f"{c.symbol} option" if c.sec_type == "OPT" else c.symbol,
        "", c.expiry[:6], "", "", "",  # primaryExchange, contractMonth, industry, category, subcategory
        "US/Eastern", "", "", "", "",  # timeZoneId, tradingHours, liquidHours, evRule, evMultiplier
        0,  # number of secIds
        "", c.symbol, "STK", "", c.expiry, "",  # aggGroup .. stockType
        1, 1, 1,  # minSize, sizeIncrement, suggestedSizeIncrement (server >= 164)
    ]


ORDER_TYPES = "LMT,MKT,STP,STP LMT,TRAIL,TRAIL LIMIT,MIT,LIT,REL"


def contract_details_end(req_id: int) -> list[object]:
    return [52, 1, req_id]


def tick_price(req_id: int, tick_type: int, price: float, size: float = 1) -> list[object]:
    return [1, 6, req_id, tick_type, price, size, 0]


def tick_option_computation(req_id: int, implied_vol: float, option_price: float, underlying: float,
                            tick_type: int = TICK_MODEL_OPTION) -> list[object]:
    # -2 / -1 are IB's "not computed" markers for greeks and prices
    return [21, req_id, tick_type, 0, implied_vol, -2, option_price, -1, -2, -2, -2, underlying]


def market_data_type(req_id: int, data_type: int = LIVE) -> list[object]:
    return [58, 1, req_id, data_type]


def order_status(order_id: int, status: str, filled: float, remaining: float, avg_fill_price: float,
                 perm_id: int, last_fill_price: float, client_id: int) -> list[object]:
    return [3, order_id, status, filled, remaining, avg_fill_price, perm_id, 0, last_fill_price,
            client_id, "", 0.0]


def open_order_end() -> list[object]:
    return [53, 1]


def exec_details(req_id: int, e: Execution) -> list[object]:
    """execDetails, live (req_id -1) or answering reqExecutions."""
    return [11, req_id, e.order_id, *contract_fields(e.contract), e.exec_id, e.time_text, e.account, EXCHANGE,
            e.side, e.shares, e.price, e.perm_id, e.client_id, 0, e.cum_qty, e.avg_price, e.order_ref, "", "", "", 2]


def exec_details_end(req_id: int) -> list[object]:
    return [55, 1, req_id]


def commission_report(exec_id: str, commission: float, realized_pnl: float) -> list[object]:
    return [59, 1, exec_id, commission, "USD", realized_pnl, "", ""]


def order_bound(perm_id: int, client_id: int, order_id: int) -> list[object]:
    """IB binding a TWS order to an API client: permId -> (clientId, orderId). No version field."""
    return [100, perm_id, client_id, order_id]


def open_order(order_id: int, order: FakeOrder, what_if: WhatIfState | None = None) -> list[object]:
    """openOrder: a long fixed layout; everything we do not model is sent empty (the decoder's default).

    trailStopPrice appears twice (IB sends it in both places; the decoder keeps the second)."""
    c = order.contract
    head: list[object] = [
        5, order_id, *contract_fields(c), order.action, order.quantity, order.order_type, order.limit_price,
        order.aux_price, order.tif, "", order.account, "C", 0, order.order_ref, order.client_id, order.perm_id,
        0, 0, 0, "", "", "", "", ""]
    fa_profile: list[object] = [""]  # present below server version 177
    middle: list[object] = [""] * 29  # modelCode .. deltaNeutralAuxPrice; deltaNeutralOrderType empty: no dn block
    middle += ["", "", order.trail_stop_price, order.trailing_percent, "", "", ""]  # .. comboLegsDescrip
    middle += combo_leg_fields(order)  # combo legs, order combo legs (none), smart combo routing params (none)
    middle += ["", "", ""]  # scale init/subs level size, price increment (empty: no scale block)
    middle += [""]  # hedgeType (empty: no hedgeParam)
    middle += [0, "", "", 0, 0]  # optOutSmartRouting, clearing account/intent, notHeld, no delta-neutral
    middle += [""]  # algoStrategy (empty: no params)
    margins: list[object] = what_if.margin_fields() if what_if else [""] * 9
    costs: list[object] = [what_if.commission, what_if.commission, what_if.commission, what_if.currency] if what_if \
        else ["", "", "", ""]
    # solicited, whatIf, status, margins, commissions, warningText, randomizeSize / Price
    state: list[object] = [0, int(what_if is not None), order.status, *margins, *costs, "", 0, 0]
    tail: list[object] = [0]  # no conditions
    tail += ["", "", order.trail_stop_price, order.limit_offset] + [""] * 12  # adjustedOrderType .. usePriceMgmtAlgo
    tail += ["", "", ""]  # duration (>=159), postToAts (>=160), autoCancelParent (>=162)
    tail += [""] * 5  # minTradeQty .. midOffsetAtHalf (>=170)
    return head + fa_profile + middle + state + tail


def combo_leg_fields(order: FakeOrder) -> list[object]:
    """The combo-legs block of openOrder, as ib_async's decoder reads it: the count, then per leg conId, ratio,
    action, exchange, openClose (0: same as the combo), shortSaleSlot, designatedLocation, exemptCode (-1);
    then no per-leg prices and no smart-combo routing params."""
    fields: list[object] = [len(order.legs)]
    for leg in order.legs:
        fields += [leg.contract.con_id, leg.ratio, leg.action, "SMART", 0, 0, "", -1]
    return [*fields, 0, 0]


def order_status_of(order: FakeOrder, last_fill_price: float = 0.0) -> list[object]:
    return order_status(order.api_id, order.status, order.filled, order.remaining, order.avg_fill_price,
                        order.perm_id, last_fill_price, order.client_id)


def order_snapshot(order: FakeOrder) -> list[list[object]]:
    """openOrder and orderStatus for one order, as every client sees it (a TWS order: id 0 until bound)."""
    return [open_order(order.api_id, order), order_status_of(order)]
