"""Messages the fake gateway sends, as field lists, laid out as ib_async's decoder reads them.

Field order follows ``ib_async/decoder.py`` at the server version the fake announces (176: after
the contract-details and error-message changes of 164/166, before the faProfile removal of 177).
Every function is pure: it returns the fields; ``wire.frame`` turns them into bytes.
"""

from __future__ import annotations

from tests.fakes.ib_gateway.contracts import FakeContract

SERVER_VERSION = 176

# Incoming message ids (client -> gateway), from ib_async/client.py.
REQUEST_NAMES = {
    1: "reqMktData", 2: "cancelMktData", 3: "placeOrder", 4: "cancelOrder", 5: "reqOpenOrders",
    6: "reqAccountUpdates", 7: "reqExecutions", 8: "reqIds", 9: "reqContractDetails",
    15: "reqAutoOpenOrders", 16: "reqAllOpenOrders", 17: "reqManagedAccts", 49: "reqCurrentTime",
    59: "reqMarketDataType", 61: "reqPositions", 62: "reqAccountSummary", 63: "cancelAccountSummary",
    64: "cancelPositions", 71: "startApi", 76: "reqAccountUpdatesMulti", 77: "cancelAccountUpdatesMulti",
    99: "reqCompletedOrders",
}

TICK_BID, TICK_ASK, TICK_LAST = 1, 2, 4
DELAYED_TICKS = {TICK_BID: 66, TICK_ASK: 67, TICK_LAST: 68}  # the tick types delayed data arrives as
TICK_MODEL_OPTION = 13  # model option computation: implied vol and greeks


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


# IB's texts for market-data errors sent with a request's id (message codes page, IBKR Campus).
MARKET_DATA_MESSAGES = {
    101: "Max number of tickers has been reached.",
    354: "Requested market data is not subscribed. Check API status by selecting the Account menu then under "
         "Management choose Market Data Subscription Manager and/or availability of delayed data.",
    10090: "Part of requested market data is not subscribed. Subscription-independent ticks are still active.",
    10167: "Requested market data is not subscribed. Displaying delayed market data.",
    10197: "No market data during competing live session",
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


def contract_details(req_id: int, c: FakeContract, under_con_id: int) -> list[object]:
    return [
        10, req_id, c.symbol, c.sec_type, c.expiry, c.strike, c.right, c.exchange, c.currency,
        c.local_symbol, c.trading_class,  # marketName
        c.trading_class, c.con_id, 0.01,  # minTick
        c.multiplier, "LMT,MKT,STP,STP LMT", "SMART,CBOE,AMEX", 1, under_con_id,
        f"{c.symbol} option" if c.sec_type == "OPT" else c.symbol,
        "", c.expiry[:6], "", "", "",  # primaryExchange, contractMonth, industry, category, subcategory
        "US/Eastern", "", "", "", "",  # timeZoneId, tradingHours, liquidHours, evRule, evMultiplier
        0,  # number of secIds
        "", c.symbol, "STK", "", c.expiry, "",  # aggGroup .. stockType
        1, 1, 1,  # minSize, sizeIncrement, suggestedSizeIncrement (server >= 164)
    ]


def contract_details_end(req_id: int) -> list[object]:
    return [52, 1, req_id]


def tick_price(req_id: int, tick_type: int, price: float, size: float = 1) -> list[object]:
    return [1, 6, req_id, tick_type, price, size, 0]


def tick_option_computation(req_id: int, implied_vol: float, option_price: float, underlying: float,
                            tick_type: int = TICK_MODEL_OPTION) -> list[object]:
    # -2 / -1 are IB's "not computed" markers for greeks and prices
    return [21, req_id, tick_type, 0, implied_vol, -2, option_price, -1, -2, -2, -2, underlying]


def market_data_type(req_id: int, data_type: int = 1) -> list[object]:
    return [58, 1, req_id, data_type]


def order_status(order_id: int, status: str, filled: float, remaining: float, avg_fill_price: float,
                 perm_id: int, last_fill_price: float, client_id: int) -> list[object]:
    return [3, order_id, status, filled, remaining, avg_fill_price, perm_id, 0, last_fill_price,
            client_id, "", 0.0]


def open_order_end() -> list[object]:
    return [53, 1]


def exec_details(req_id: int, order_id: int, contract: FakeContract, exec_id: str, time_text: str,
                 account: str, side: str, shares: float, price: float, perm_id: int, client_id: int,
                 cum_qty: float, avg_price: float, order_ref: str) -> list[object]:
    return [11, req_id, order_id, *contract_fields(contract), exec_id, time_text, account, "CBOE",
            side, shares, price, perm_id, client_id, 0, cum_qty, avg_price, order_ref, "", "", "", 2]


def exec_details_end(req_id: int) -> list[object]:
    return [55, 1, req_id]


def commission_report(exec_id: str, commission: float, realized_pnl: float) -> list[object]:
    return [59, 1, exec_id, commission, "USD", realized_pnl, "", ""]


def open_order(order_id: int, contract: FakeContract, *, action: str, quantity: float, order_type: str,
               limit_price: float | None, aux_price: float | None, tif: str, account: str, order_ref: str,
               client_id: int, perm_id: int, status: str) -> list[object]:
    """openOrder: a long fixed layout; everything we do not model is sent empty (the decoder's default)."""
    head = [5, order_id, *contract_fields(contract), action, quantity, order_type, limit_price, aux_price,
            tif, "", account, "C", 0, order_ref, client_id, perm_id, 0, 0, 0, "", "", "", "", ""]
    fa_profile = [""]  # present below server version 177
    middle = [""] * 29  # modelCode .. deltaNeutralAuxPrice; deltaNeutralOrderType empty: no dn block
    middle += [""] * 7  # continuousUpdate .. comboLegsDescrip
    middle += [0, 0, 0]  # combo legs, order combo legs, smart combo routing params
    middle += ["", "", ""]  # scale init/subs level size, price increment (empty: no scale block)
    middle += [""]  # hedgeType (empty: no hedgeParam)
    middle += [0, "", "", 0, 0]  # optOutSmartRouting, clearing account/intent, notHeld, no delta-neutral
    middle += [""]  # algoStrategy (empty: no params)
    state = [0, 0, status] + [""] * 14 + [0, 0]  # solicited, whatIf, status, margins .. randomize
    tail = [0]  # no conditions
    tail += [""] * 16  # adjustedOrderType .. usePriceMgmtAlgo
    tail += ["", "", ""]  # duration (>=159), postToAts (>=160), autoCancelParent (>=162)
    tail += [""] * 5  # minTradeQty .. midOffsetAtHalf (>=170)
    return head + fa_profile + middle + state + tail
