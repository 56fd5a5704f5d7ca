"""The pure v2/v3 parsers on bodies shaped like the Terminal's documented responses.

The v3 bodies follow the JSON examples of ThetaData's v3 OpenAPI description; the v2 bodies follow
the legacy JSON shape with each endpoint's documented column list (header.format).
"""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from domain.feed_errors import FeedErrorKind
from domain.model import OptionContract, Right
from domain.session import EASTERN
from gateways.thetadata import parsers_v2, parsers_v3
from gateways.thetadata.errors import ThetaFeedError

# 12:59:55.123 ET on 2026-11-27 (an early-close day; EST, UTC-5)
MS = (12 * 3600 + 59 * 60 + 55) * 1000 + 123
EXPECTED_AT = datetime(2026, 11, 27, 12, 59, 55, 123000, tzinfo=EASTERN)
CONTRACT = OptionContract("SPY", Right.CALL, 635.0, date(2026, 11, 27))


def v2_body(response, fmt=parsers_v2.QUOTE_FORMAT, error_type="null", error_msg="null") -> str:
    header = {"latency_ms": 2, "error_type": error_type, "error_msg": error_msg, "next_page": "null",
              "format": list(fmt)}
    return json.dumps({"header": header, "response": response})


def quote_row(bid, ask, ms=MS, day=20261127):
    return [ms, 10, 1, bid, 0, 12, 1, ask, 0, day]


def greeks_row(iv, ms=MS, day=20261127):
    return [ms, 1.2, 1.3, 0.5, -0.1, 0.2, 0.01, -0.02, 3.0, iv, 0.0, ms, 636.0, day]


# ---------- v2 ----------

def test_v2_stock_quote_reads_columns_and_eastern_time():
    quote = parsers_v2.parse_stock_quote(v2_body([quote_row(636.01, 636.03)]), "SPY")
    assert (quote.instrument, quote.bid, quote.ask, quote.source) == ("SPY", 636.01, 636.03, "thetadata")
    assert quote.at == EXPECTED_AT
    assert quote.at.utcoffset().total_seconds() == -5 * 3600
    assert quote.mid == pytest.approx(636.02)


def test_v2_summer_timestamp_is_edt():
    quote = parsers_v2.parse_stock_quote(v2_body([quote_row(600.0, 600.02, ms=34_200_000, day=20260701)]), "SPY")
    assert quote.at.utcoffset().total_seconds() == -4 * 3600
    assert (quote.at.hour, quote.at.minute) == (9, 30)


def test_v2_columns_are_read_by_name_not_position():
    fmt = ("date", "ask", "bid", "ms_of_day", "extra_future_column")
    quote = parsers_v2.parse_stock_quote(v2_body([[20261127, 636.03, 636.01, MS, 7]], fmt=fmt), "SPY")
    assert (quote.bid, quote.ask, quote.at) == (636.01, 636.03, EXPECTED_AT)


def test_v2_option_snapshot_single_contract():
    quote = parsers_v2.parse_option_quote(v2_body([quote_row(1.47, 1.50)]), CONTRACT)
    assert quote.instrument == "SPY 20261127 635C"
    assert (quote.bid, quote.ask) == (1.47, 1.50)


def test_v2_bulk_option_quotes_by_contract_key_with_thousandths_strikes():
    response = [
        {"ticks": [quote_row(1.47, 1.50)], "contract": {"root": "SPY", "expiration": 20261127, "strike": 635000,
                                                        "right": "C"}},
        {"ticks": [quote_row(0.0, 0.01)], "contract": {"root": "SPY", "expiration": 20261127, "strike": 632500,
                                                       "right": "P"}},
        {"ticks": [], "contract": {"root": "SPY", "expiration": 20261127, "strike": 700000, "right": "C"}},
    ]
    quotes = parsers_v2.parse_bulk_option_quotes(v2_body(response), "SPY")
    assert set(quotes) == {"SPY 20261127 635C", "SPY 20261127 632.5P"}
    assert quotes["SPY 20261127 632.5P"].bid == 0.0  # a zero bid is real; far OTM options are bid at 0
    assert quotes["SPY 20261127 635C"].at == EXPECTED_AT


def test_v2_zero_ask_means_nothing_offered():
    quote = parsers_v2.parse_option_quote(v2_body([quote_row(0.05, 0)]), CONTRACT)
    assert quote.ask is None


def test_v2_bulk_greeks_implied_vol_and_zero_is_unknown():
    response = [
        {"ticks": [greeks_row(0.1834)], "contract": {"root": "SPY", "expiration": 20261127, "strike": 635000,
                                                     "right": "C"}},
        {"ticks": [greeks_row(0.0)], "contract": {"root": "SPY", "expiration": 20261127, "strike": 500000,
                                                  "right": "C"}},
    ]
    vols = parsers_v2.parse_bulk_implied_vols(v2_body(response, fmt=parsers_v2.GREEKS_FORMAT), "SPY")
    assert vols == {"SPY 20261127 635C": 0.1834}


def test_v2_strike_thousandths():
    assert parsers_v2.strike_thousandths(635.0) == 635000
    assert parsers_v2.strike_thousandths(632.5) == 632500


def test_v2_empty_snapshot_is_no_data():
    with pytest.raises(ThetaFeedError) as caught:
        parsers_v2.parse_stock_quote(v2_body([]), "SPY")
    assert caught.value.kind is FeedErrorKind.NO_DATA


def test_v2_zero_stock_quote_is_no_data():
    with pytest.raises(ThetaFeedError) as caught:
        parsers_v2.parse_stock_quote(v2_body([quote_row(0, 0)]), "SPY")
    assert caught.value.kind is FeedErrorKind.NO_DATA


@pytest.mark.parametrize(("error_type", "kind"), [
    ("NO_DATA", FeedErrorKind.NO_DATA),
    ("DISCONNECTED", FeedErrorKind.OUTAGE),
    ("PERMISSION", FeedErrorKind.PERMISSION),
    ("OS_LIMIT", FeedErrorKind.RATE_LIMITED),
    ("WRONG_IP", FeedErrorKind.OUTAGE),
    ("SOMETHING_NEW", FeedErrorKind.MALFORMED),
])
def test_v2_header_error_type_is_an_error(error_type, kind):
    with pytest.raises(ThetaFeedError) as caught:
        parsers_v2.parse_stock_quote(v2_body([], error_type=error_type, error_msg="details"), "SPY")
    assert caught.value.kind is kind


@pytest.mark.parametrize("body", [
    "",
    "<html>502 Bad Gateway</html>",
    "[]",
    json.dumps({"response": []}),
    json.dumps({"header": {"error_type": "null", "format": ["bid"]}, "response": [[1.0]]}),
    json.dumps({"header": {"error_type": "null", "format": list(parsers_v2.QUOTE_FORMAT)}, "response": {}}),
    v2_body([[MS, 1, 2]]),
    v2_body([quote_row("636.01", 636.03)]),
    v2_body([quote_row(float("nan"), 636.03)]),
    v2_body([quote_row(-1.0, 636.03)]),
    v2_body([quote_row(636.01, 636.03, day=20261399)]),
    v2_body([quote_row(636.01, 636.03, ms=-5)]),
])
def test_v2_malformed_bodies(body):
    with pytest.raises(ThetaFeedError) as caught:
        parsers_v2.parse_stock_quote(body, "SPY")
    assert caught.value.kind is FeedErrorKind.MALFORMED


@pytest.mark.parametrize("item", [
    {"ticks": [quote_row(1, 2)]},
    {"ticks": [quote_row(1, 2)], "contract": {"root": "SPY", "expiration": 20261127, "strike": 635000, "right": "X"}},
    {"ticks": [quote_row(1, 2)], "contract": {"root": "SPY", "strike": 635000, "right": "C"}},
    {"contract": {"root": "SPY", "expiration": 20261127, "strike": 635000, "right": "C"}},
    [quote_row(1, 2)],
])
def test_v2_malformed_bulk_items(item):
    with pytest.raises(ThetaFeedError) as caught:
        parsers_v2.parse_bulk_option_quotes(v2_body([item]), "SPY")
    assert caught.value.kind is FeedErrorKind.MALFORMED


# ---------- v3 (bodies as in ThetaData's v3 OpenAPI examples) ----------

V3_STOCK = ('{\n  "response": [\n    {"symbol":"SPY","ask_size":3,"bid_size":1,"ask_exchange":29,"ask_condition":0,'
            '"bid_exchange":29,"ask":636.03,"bid":636.01,"bid_condition":0,'
            '"timestamp":"2026-11-27T12:59:55.123"}\n  ]\n}\n')
V3_OPTION = ('{\n  "response": [\n    {\n      "contract": {"symbol":"SPY","strike":635.000,"right":"CALL",'
             '"expiration":"2026-11-27"},\n      "data": [\n        {"ask_size":25,"ask_condition":50,"bid_size":5,'
             '"ask_exchange":6,"bid_exchange":6,"ask":1.50,"bid":1.47,"bid_condition":50,'
             '"timestamp":"2026-11-27T12:59:55.123"}\n      ]\n    },\n    {\n      "contract": {"symbol":"SPY",'
             '"strike":632.500,"right":"PUT","expiration":"2026-11-27"},\n      "data": [\n        {"ask":0.02,'
             '"bid":0.01,"timestamp":"2026-11-27T12:59:54.9"}\n      ]\n    }\n  ]\n}\n')
V3_IV = ('{\n  "response": [\n    {\n      "contract": {"symbol":"SPY","expiration":"2026-11-27","strike":635.000,'
         '"right":"CALL"},\n      "data": [\n        {"underlying_price":636.02,"ask":1.50,"implied_vol":0.2142,'
         '"bid":1.47,"underlying_timestamp":"2026-11-27T12:59:55.200","iv_error":-0.0003,'
         '"timestamp":"2026-11-27T12:59:55.123"}\n      ]\n    }\n  ]\n}  \n')


def test_v3_stock_quote():
    quote = parsers_v3.parse_stock_quote(V3_STOCK, "SPY")
    assert (quote.bid, quote.ask, quote.at, quote.source) == (636.01, 636.03, EXPECTED_AT, "thetadata")


def test_v3_stock_quote_for_another_symbol_only_is_no_data():
    with pytest.raises(ThetaFeedError) as caught:
        parsers_v3.parse_stock_quote(V3_STOCK.replace('"SPY"', '"QQQ"'), "SPY")
    assert caught.value.kind is FeedErrorKind.NO_DATA


def test_v3_option_quotes_dollar_strikes_and_call_put():
    quotes = parsers_v3.parse_option_quotes(V3_OPTION, "SPY")
    assert set(quotes) == {"SPY 20261127 635C", "SPY 20261127 632.5P"}
    assert (quotes["SPY 20261127 635C"].bid, quotes["SPY 20261127 635C"].ask) == (1.47, 1.50)
    assert quotes["SPY 20261127 635C"].at == EXPECTED_AT
    assert quotes["SPY 20261127 632.5P"].at == datetime(2026, 11, 27, 12, 59, 54, 900000, tzinfo=EASTERN)


def test_v3_flat_ndjson_like_option_row():
    body = json.dumps({"response": [{"symbol": "SPY", "strike": 635.0, "right": "CALL", "expiration": "2026-11-27",
                                     "bid": 1.47, "ask": 1.5, "timestamp": "2026-11-27T12:59:55.123"}]})
    assert parsers_v3.parse_option_quotes(body, "SPY")["SPY 20261127 635C"].ask == 1.5


def test_v3_implied_vols():
    assert parsers_v3.parse_implied_vols(V3_IV, "SPY") == {"SPY 20261127 635C": 0.2142}


def test_v3_strike_text():
    assert parsers_v3.strike_text(632.5) == "632.500"


@pytest.mark.parametrize("body", [
    "No data for the specified timeframe",
    json.dumps([]),
    json.dumps({"response": [1]}),
    json.dumps({"response": [{"symbol": "SPY", "bid": 1.0, "ask": 1.1, "timestamp": "12:00"}]}),
    json.dumps({"response": [{"symbol": "SPY", "bid": 1.0, "ask": None, "timestamp": "2026-11-27T12:00:00"}]}),
])
def test_v3_malformed_stock_bodies(body):
    with pytest.raises(ThetaFeedError) as caught:
        parsers_v3.parse_stock_quote(body, "SPY")
    assert caught.value.kind is FeedErrorKind.MALFORMED


@pytest.mark.parametrize("item", [
    {"contract": {"symbol": "SPY", "strike": 635.0, "right": "CALL"}, "data": []},
    {"contract": {"symbol": "SPY", "strike": 635.0, "right": "CALL", "expiration": "2026-11-27"}, "data": {}},
    {"contract": "SPY 635C", "data": []},
    {"contract": {"symbol": "SPY", "strike": "x", "right": "CALL", "expiration": "2026-11-27"}, "data": []},
])
def test_v3_malformed_option_items(item):
    with pytest.raises(ThetaFeedError) as caught:
        parsers_v3.parse_option_quotes(json.dumps({"response": [item]}), "SPY")
    assert caught.value.kind is FeedErrorKind.MALFORMED
