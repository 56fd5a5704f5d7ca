"""The Terminal clients: the same four calls for the v2 and the v3 Terminal, chosen by the URL's path.

Every call returns parsed values or raises ThetaFeedError (a gateways.prices.FeedError); nothing
else escapes, so a caller's poll loop needs one ``except FeedError``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import date
from typing import TypeVar
from urllib.parse import urlsplit

from domain.model import OptionContract, Quote
from gateways.thetadata import parsers_v2, parsers_v3
from gateways.thetadata.parse_common import no_data
from gateways.thetadata.transport import Transport

STOCK_SUBSCRIPTION = ("a ThetaData stocks subscription: Standard or Pro for real-time quotes "
                      "(Value is 15 minutes delayed, which the feed treats as stale)")
OPTION_SUBSCRIPTION = "a ThetaData options subscription (Value or higher)"
GREEKS_SUBSCRIPTION = "a ThetaData options Standard subscription or higher (implied volatility)"

T = TypeVar("T")


class TerminalClient(ABC):
    """Shared plumbing; ``V2Client`` and ``V3Client`` supply paths, parameters and parsers."""

    version = ""

    def __init__(self, base_url: str, timeout: float, transport: Transport | None = None) -> None:
        self.transport = transport or Transport(base_url, timeout)
        self.base_url = self.transport.base_url
        self.timeout = timeout

    @abstractmethod
    def stock_quote(self, symbol: str) -> Quote: ...

    @abstractmethod
    def option_quotes(self, symbol: str, expiry: date) -> dict[str, Quote]:
        """Every quoted contract of one expiration, keyed by ``OptionContract.key``."""

    @abstractmethod
    def option_quote(self, contract: OptionContract) -> Quote: ...

    @abstractmethod
    def implied_vols(self, symbol: str, expiry: date) -> dict[str, float]:
        """Implied volatility of every contract of one expiration that has one, by contract key."""

    def close(self) -> None:
        self.transport.close()

    def _call(self, endpoint: str, path: str, params: Mapping[str, str], what: str, subscription: str,
              parse: Callable[[bytes], T]) -> T:
        return self.transport.get(endpoint, path, params, what, parse, subscription)


class V2Client(TerminalClient):
    """The v2 Terminal (default ``http://127.0.0.1:25510/v2``): legacy JSON, strikes in thousandths."""

    version = "v2"
    _FLAGS = {"use_csv": "false", "pretty_time": "false"}

    def stock_quote(self, symbol: str) -> Quote:
        return self._call("stock_quote", "/snapshot/stock/quote", {"root": symbol, **self._FLAGS},
                          f"{symbol} quote", STOCK_SUBSCRIPTION,
                          lambda body: parsers_v2.parse_stock_quote(body, symbol))

    def option_quotes(self, symbol: str, expiry: date) -> dict[str, Quote]:
        return self._call("bulk_option_quote", "/bulk_snapshot/option/quote",
                          {"root": symbol, "exp": f"{expiry:%Y%m%d}", **self._FLAGS},
                          f"{symbol} {expiry:%Y%m%d} option quotes", OPTION_SUBSCRIPTION,
                          lambda body: parsers_v2.parse_bulk_option_quotes(body, symbol))

    def option_quote(self, contract: OptionContract) -> Quote:
        params = {"root": contract.symbol, "exp": f"{contract.expiry:%Y%m%d}",
                  "strike": str(parsers_v2.strike_thousandths(contract.strike)), "right": contract.right.value,
                  **self._FLAGS}
        return self._call("option_quote", "/snapshot/option/quote", params, f"{contract.key} quote",
                          OPTION_SUBSCRIPTION, lambda body: parsers_v2.parse_option_quote(body, contract))

    def implied_vols(self, symbol: str, expiry: date) -> dict[str, float]:
        return self._call("bulk_greeks", "/bulk_snapshot/option/greeks",
                          {"root": symbol, "exp": f"{expiry:%Y%m%d}", **self._FLAGS},
                          f"{symbol} {expiry:%Y%m%d} greeks", GREEKS_SUBSCRIPTION,
                          lambda body: parsers_v2.parse_bulk_implied_vols(body, symbol))


class V3Client(TerminalClient):
    """The v3 Terminal (``http://127.0.0.1:25503/v3``): ``format=json``, dollar strikes, call/put."""

    version = "v3"

    def stock_quote(self, symbol: str) -> Quote:
        return self._call("stock_quote", "/stock/snapshot/quote", {"symbol": symbol, "format": "json"},
                          f"{symbol} quote", STOCK_SUBSCRIPTION,
                          lambda body: parsers_v3.parse_stock_quote(body, symbol))

    def option_quotes(self, symbol: str, expiry: date) -> dict[str, Quote]:
        return self._call("bulk_option_quote", "/option/snapshot/quote",
                          {"symbol": symbol, "expiration": f"{expiry:%Y%m%d}", "strike": "*", "right": "both",
                           "format": "json"},
                          f"{symbol} {expiry:%Y%m%d} option quotes", OPTION_SUBSCRIPTION,
                          lambda body: parsers_v3.parse_option_quotes(body, symbol))

    def option_quote(self, contract: OptionContract) -> Quote:
        params = {"symbol": contract.symbol, "expiration": f"{contract.expiry:%Y%m%d}",
                  "strike": parsers_v3.strike_text(contract.strike),
                  "right": "call" if contract.right.value == "C" else "put", "format": "json"}

        def parse(body: bytes) -> Quote:
            quotes = parsers_v3.parse_option_quotes(body, contract.symbol)
            if contract.key not in quotes:
                raise no_data(f"v3 option quote {contract.key}", "the Terminal answered without this contract")
            return quotes[contract.key]

        return self._call("option_quote", "/option/snapshot/quote", params, f"{contract.key} quote",
                          OPTION_SUBSCRIPTION, parse)

    def implied_vols(self, symbol: str, expiry: date) -> dict[str, float]:
        return self._call("bulk_greeks", "/option/snapshot/greeks/implied_volatility",
                          {"symbol": symbol, "expiration": f"{expiry:%Y%m%d}", "strike": "*", "right": "both",
                           "format": "json"},
                          f"{symbol} {expiry:%Y%m%d} implied volatility", GREEKS_SUBSCRIPTION,
                          lambda body: parsers_v3.parse_implied_vols(body, symbol))


def connect(base_url: str, timeout: float) -> TerminalClient:
    """The client for the Terminal at ``base_url``: v3 when the URL's path starts with /v3, else v2."""
    path = urlsplit(base_url).path.strip("/")
    client_class = V3Client if path.split("/")[0].lower() == "v3" else V2Client
    return client_class(base_url, timeout)
