"""Pure parsers for the v2 Terminal's legacy JSON: no HTTP here, bodies in, Quotes out.

Shape (https://http-docs.thetadata.us, "legacy JSON", ``use_csv=false``)::

    {"header": {"latency_ms": 3, "error_type": "null", "error_msg": "null", "next_page": "null",
                "format": ["ms_of_day", "bid_size", ...]},
     "response": [[row], ...]}                                   # single-instrument snapshots
     "response": [{"ticks": [[row]], "contract": {"root": "SPY", "expiration": 20261127,
                                                  "strike": 635000, "right": "C"}}, ...]   # bulk

Rows are read by the column names in ``header.format``, never by position, so a Terminal that
adds a column does not shift prices. Strikes are in thousandths of a dollar; times are Eastern.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from domain.model import OptionContract, Quote, Right
from gateways.thetadata.errors import error_for_name
from gateways.thetadata.parse_common import bid_ask, eastern_from_ms, load_json, malformed, no_data, number, yyyymmdd

SOURCE = "thetadata"
STRIKE_SCALE = 1000  # v2 strikes: $635.00 is 635000

# The documented column lists (Output Descriptions of each endpoint on http-docs.thetadata.us).
QUOTE_FORMAT = ("ms_of_day", "bid_size", "bid_exchange", "bid", "bid_condition",
                "ask_size", "ask_exchange", "ask", "ask_condition", "date")
GREEKS_FORMAT = ("ms_of_day", "bid", "ask", "delta", "theta", "vega", "rho", "epsilon", "lambda",
                 "implied_vol", "iv_error", "ms_of_day2", "underlying_price", "date")
QUOTE_NEEDS = ("ms_of_day", "bid", "ask", "date")
GREEKS_NEEDS = ("implied_vol",)
_NO_ERROR = (None, "", "null", "NULL", "None")


def strike_thousandths(strike: float) -> int:
    return round(strike * STRIKE_SCALE)


def parse_stock_quote(body: bytes | str, symbol: str) -> Quote:
    """``/v2/snapshot/stock/quote?root=SPY``: the last row is the current quote."""
    what = f"v2 stock quote {symbol}"
    columns, rows = _rows(body, what, QUOTE_NEEDS)
    if not rows:
        raise no_data(what, "the Terminal answered with no rows")
    quote = _quote(rows[-1], columns, symbol, what)
    if quote.bid == 0 and quote.ask is None:
        raise no_data(what, "bid and ask are both 0 (nothing quoted yet)")
    return quote


def parse_option_quote(body: bytes | str, contract: OptionContract) -> Quote:
    """``/v2/snapshot/option/quote?root&exp&strike&right``: one contract, so no ``contract`` field."""
    what = f"v2 option quote {contract.key}"
    columns, rows = _rows(body, what, QUOTE_NEEDS)
    if not rows:
        raise no_data(what, "the Terminal answered with no rows")
    return _quote(rows[-1], columns, contract.key, what)


def parse_bulk_option_quotes(body: bytes | str, symbol: str) -> dict[str, Quote]:
    """``/v2/bulk_snapshot/option/quote?root&exp``: every contract of one expiration, by contract key."""
    what = f"v2 bulk option quotes {symbol}"
    quotes: dict[str, Quote] = {}
    for contract, columns, ticks in _bulk_items(body, what, QUOTE_NEEDS):
        if ticks:
            quotes[contract.key] = _quote(ticks[-1], columns, contract.key, what)
    return quotes


def parse_bulk_implied_vols(body: bytes | str, symbol: str) -> dict[str, float]:
    """``/v2/bulk_snapshot/option/greeks?root&exp``: implied volatility by contract key.

    The Terminal writes 0 when its solver found no volatility; that is "unknown", so it is left out.
    """
    what = f"v2 bulk greeks {symbol}"
    vols: dict[str, float] = {}
    for contract, columns, ticks in _bulk_items(body, what, GREEKS_NEEDS):
        if ticks:
            vol = number(_cell(ticks[-1], columns, "implied_vol", what), what, "implied_vol")
            if vol > 0:
                vols[contract.key] = vol
    return vols


def _document(body: bytes | str, what: str) -> tuple[Mapping[str, Any], list[Any]]:
    document = load_json(body, what)
    if not isinstance(document, dict) or not isinstance(document.get("header"), dict):
        raise malformed(what, "no header object")
    header = document["header"]
    error_type = header.get("error_type")
    if error_type not in _NO_ERROR:
        raise error_for_name(str(error_type), str(header.get("error_msg", "")), what)
    response = document.get("response")
    if not isinstance(response, list):
        raise malformed(what, "no response list")
    return header, response


def _columns(header: Mapping[str, Any], needs: Iterable[str], what: str) -> dict[str, int]:
    names = header.get("format")
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise malformed(what, "header.format is not a list of column names")
    columns = {name: index for index, name in enumerate(names)}
    missing = [name for name in needs if name not in columns]
    if missing:
        raise malformed(what, f"header.format lacks {', '.join(missing)}")
    return columns


def _rows(body: bytes | str, what: str, needs: Sequence[str]) -> tuple[dict[str, int], list[Any]]:
    header, response = _document(body, what)
    return _columns(header, needs, what), response


def _bulk_items(body: bytes | str, what: str, needs: Sequence[str]):
    header, response = _document(body, what)
    columns = _columns(header, needs, what)
    for item in response:
        if not isinstance(item, dict) or not isinstance(item.get("ticks"), list):
            raise malformed(what, "bulk item without a ticks list")
        yield _contract(item.get("contract"), what), columns, item["ticks"]


def _contract(raw: object, what: str) -> OptionContract:
    if not isinstance(raw, dict):
        raise malformed(what, "bulk item without a contract object")
    try:
        right = Right.parse(str(raw["right"]))
        strike = number(raw["strike"], what, "strike") / STRIKE_SCALE
        return OptionContract(str(raw["root"]).upper(), right, strike, yyyymmdd(raw["expiration"], what))
    except (KeyError, ValueError) as error:
        raise malformed(what, f"contract {raw!r}: {error}") from None


def _cell(row: object, columns: Mapping[str, int], name: str, what: str) -> object:
    if not isinstance(row, list) or len(row) < len(columns):
        raise malformed(what, f"row {row!r} does not match header.format")
    return row[columns[name]]


def _quote(row: object, columns: Mapping[str, int], instrument: str, what: str) -> Quote:
    at = eastern_from_ms(_cell(row, columns, "date", what), _cell(row, columns, "ms_of_day", what), what)
    bid, ask = bid_ask(_cell(row, columns, "bid", what), _cell(row, columns, "ask", what), what)
    return Quote(instrument=instrument, bid=bid, ask=ask, last=None, at=at, source=SOURCE)
