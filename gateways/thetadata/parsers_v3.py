"""Pure parsers for the v3 Terminal's JSON (``format=json``): bodies in, Quotes out.

Shapes, from ThetaData's v3 OpenAPI description (docs.thetadata.us/operations/*; captured in
github.com/api-evangelist/thetadata, openapi/thetadata-snapshot-api-openapi.yml)::

    /v3/stock/snapshot/quote:
      {"response": [{"symbol": "SPY", "bid": 600.1, "ask": 600.12, ..., "timestamp": "2025-08-20T16:03:05.142"}]}
    /v3/option/snapshot/quote and /v3/option/snapshot/greeks/implied_volatility:
      {"response": [{"contract": {"symbol": "SPY", "strike": 635.000, "right": "CALL", "expiration": "2026-11-27"},
                     "data": [{"bid": 1.47, "ask": 1.50, ..., "timestamp": "..."}]}]}

Strikes are in dollars, rights CALL/PUT, timestamps Eastern without an offset. The flat
(ndjson-like) option row, with the contract fields inline, is accepted as well.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from domain.model import OptionContract, Quote, Right
from gateways.thetadata.parse_common import bid_ask, eastern_from_iso, load_json, malformed, no_data, number, yyyymmdd

SOURCE = "thetadata"


def strike_text(strike: float) -> str:
    """v3 takes dollar strikes with three decimals, e.g. ``635.000``."""
    return f"{strike:.3f}"


def parse_stock_quote(body: bytes | str, symbol: str) -> Quote:
    what = f"v3 stock quote {symbol}"
    rows = [row for row in _response(body, what) if _is_row(row, what) and row.get("symbol", symbol) == symbol]
    if not rows:
        raise no_data(what, "the Terminal answered with no row for the symbol")
    quote = _quote(rows[-1], symbol, what)
    if quote.bid == 0 and quote.ask is None:
        raise no_data(what, "bid and ask are both 0 (nothing quoted yet)")
    return quote


def parse_option_quotes(body: bytes | str, symbol: str) -> dict[str, Quote]:
    """One contract or a whole expiration (``strike=*``): the latest quote by contract key."""
    what = f"v3 option quotes {symbol}"
    return {contract.key: _quote(row, contract.key, what) for contract, row in _option_rows(body, what)}


def parse_implied_vols(body: bytes | str, symbol: str) -> dict[str, float]:
    """Implied volatility by contract key; 0 (the solver found none) is left out as unknown."""
    what = f"v3 implied volatility {symbol}"
    vols: dict[str, float] = {}
    for contract, row in _option_rows(body, what):
        vol = number(row.get("implied_vol"), what, "implied_vol")
        if vol > 0:
            vols[contract.key] = vol
    return vols


def _response(body: bytes | str, what: str) -> list[Any]:
    document = load_json(body, what)
    if not isinstance(document, dict) or not isinstance(document.get("response"), list):
        raise malformed(what, "no response list")
    return document["response"]


def _is_row(row: object, what: str) -> bool:
    if not isinstance(row, dict):
        raise malformed(what, f"item {row!r} is not an object")
    return True


def _option_rows(body: bytes | str, what: str) -> Iterator[tuple[OptionContract, Mapping[str, Any]]]:
    for item in _response(body, what):
        _is_row(item, what)
        if "contract" in item:
            contract, data = _contract(item["contract"], what), item.get("data")
            if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
                raise malformed(what, "contract item without a data list")
            if data:
                yield contract, data[-1]
        else:
            yield _contract(item, what), item


def _contract(raw: object, what: str) -> OptionContract:
    if not isinstance(raw, dict):
        raise malformed(what, "contract is not an object")
    try:
        right = Right.parse(str(raw["right"]))
        return OptionContract(str(raw["symbol"]).upper(), right, number(raw["strike"], what, "strike"),
                              yyyymmdd(raw["expiration"], what))
    except (KeyError, ValueError) as error:
        raise malformed(what, f"contract {raw!r}: {error}") from None


def _quote(row: Mapping[str, Any], instrument: str, what: str) -> Quote:
    bid, ask = bid_ask(row.get("bid"), row.get("ask"), what)
    at = eastern_from_iso(row.get("timestamp"), what)
    return Quote(instrument=instrument, bid=bid, ask=ask, last=None, at=at, source=SOURCE)
