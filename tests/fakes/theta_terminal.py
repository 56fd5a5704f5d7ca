"""A fake Theta Terminal: an HTTP server on 127.0.0.1 that answers like the real one, v2 and v3.

It serves SPY's quote snapshot, option quotes derived from SPY (bulk and single contract) and
their implied volatility, in the Terminal's response shapes, with timestamps from the test's clock;
other roots given in ``underlyings`` (QQQ, IWM...) the same way from their own price, and any other
root 472 NO_DATA, as the Terminal answers a root it has nothing for.
Faults are scripted per test, for every endpoint or one (names as the client's: ``stock_quote``,
``bulk_option_quote``, ``option_quote``, ``bulk_greeks``):

    terminal.fail(474)              # DISCONNECTED (also 471 PERMISSION, 472 NO_DATA, 429, 476 ...)
    terminal.hang("stock_quote")    # accept, then say nothing (longer than any client timeout)
    terminal.malformed()            # 200 with a body that is not the documented shape
    terminal.freeze()               # keep serving the same quote and timestamp (a frozen feed)
    terminal.outage() / recover()   # stop listening (connection refused) / listen again, same port
    terminal.heal()                 # clear every fault except an outage

Usage::

    with FakeThetaTerminal(clock=virtual_clock.now) as terminal:
        client = connect(terminal.url_v2, timeout=0.5)
"""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")
QUOTE_FORMAT = ["ms_of_day", "bid_size", "bid_exchange", "bid", "bid_condition",
                "ask_size", "ask_exchange", "ask", "ask_condition", "date"]
GREEKS_FORMAT = ["ms_of_day", "bid", "ask", "delta", "theta", "vega", "rho", "epsilon", "lambda",
                 "implied_vol", "iv_error", "ms_of_day2", "underlying_price", "date"]
ERROR_NAMES = {404: "NO_IMPL", 429: "OS_LIMIT", 470: "GENERAL", 471: "PERMISSION", 472: "NO_DATA",
               473: "INVALID_PARAMS", 474: "DISCONNECTED", 475: "TERMINAL_PARSE", 476: "WRONG_IP",
               571: "SERVER_STARTING"}
ERROR_TEXT = {471: "Your account does not have the permissions required to execute the request.",
              472: "No data for the specified timeframe & contract.",
              474: "Connection has been lost to Theta Data MDDS.",
              429: "The operating system is throttling your requests.",
              476: "The IP address does not match the IP address that the first request was made on."}
ROUTES = {
    "/v2/snapshot/stock/quote": "stock_quote",
    "/v2/bulk_snapshot/option/quote": "bulk_option_quote",
    "/v2/snapshot/option/quote": "option_quote",
    "/v2/bulk_snapshot/option/greeks": "bulk_greeks",
    "/v3/stock/snapshot/quote": "stock_quote",
    "/v3/option/snapshot/quote": "option_quote",  # bulk_option_quote when strike=* (see endpoint_of)
    "/v3/option/snapshot/greeks/implied_volatility": "bulk_greeks",
}
ALL = "*"


def endpoint_of(path: str, query: dict[str, str]) -> str | None:
    """The client's endpoint name for a request: v3 serves one contract and a whole expiration on one path."""
    endpoint = ROUTES.get(path)
    if path == "/v3/option/snapshot/quote" and query.get("strike", ALL) == ALL:
        return "bulk_option_quote"
    return endpoint


def option_prices(spot: float, strike: float, right: str) -> tuple[float, float, float]:
    """(bid, ask, implied vol) of a contract: intrinsic value plus a little time value, 4 cents wide."""
    intrinsic = max(spot - strike, 0.0) if right == "C" else max(strike - spot, 0.0)
    fair = intrinsic + 0.30 * math.exp(-abs(spot - strike) / 3.0)
    return max(round(fair - 0.02, 2), 0.0), round(fair + 0.02, 2), round(0.15 + 0.002 * abs(spot - strike), 4)


class FakeThetaTerminal:
    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC), *, symbol: str = "SPY",
                 spy: float = 636.0, spy_path: Callable[[datetime], float] | None = None,
                 strikes: Iterable[float] | None = None, hang_seconds: float = 30.0,
                 underlyings: Mapping[str, float] | None = None) -> None:
        self.clock = clock
        self.symbol = symbol
        self._others = dict(underlyings or {})  # root -> price, strikes within $10 of it
        self.spy_path = spy_path or (lambda _now: self._spy)
        self._spy = spy
        self.strikes = sorted(strikes) if strikes is not None else [float(k) for k in range(int(spy) - 10,
                                                                                         int(spy) + 11)]
        self.hang_seconds = hang_seconds
        self.port = 0
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.max_in_flight: Counter[str] = Counter()
        self._in_flight: Counter[str] = Counter()
        self._faults: dict[str, tuple[str, int]] = {}  # endpoint or ALL -> (fault, status)
        self._frozen: tuple[dict[str, float], datetime] | None = None
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ----
    def start(self) -> FakeThetaTerminal:
        self._listen()
        return self

    def stop(self) -> None:
        self._release.set()  # let hanging handlers finish
        self._close()

    def __enter__(self) -> FakeThetaTerminal:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url_v2(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2"

    @property
    def url_v3(self) -> str:
        return f"http://127.0.0.1:{self.port}/v3"

    # ---- script ----
    def set_spy(self, price: float) -> None:
        with self._lock:
            self._spy = price

    def fail(self, status: int, endpoint: str = ALL) -> None:
        self._set_fault(endpoint, "status", status)

    def hang(self, endpoint: str = ALL) -> None:
        self._release.clear()
        self._set_fault(endpoint, "hang", 0)

    def malformed(self, endpoint: str = ALL) -> None:
        self._set_fault(endpoint, "malformed", 0)

    def freeze(self) -> None:
        now = self.clock()
        with self._lock:
            self._frozen = ({**self._others, self.symbol: self.spy_path(now)}, now)

    def heal(self) -> None:
        with self._lock:
            self._faults.clear()
            self._frozen = None
        self._release.set()

    def outage(self) -> None:
        """Stop listening: connections are refused until ``recover``."""
        self._close()

    def recover(self) -> None:
        self._listen(self.port)

    def count(self, endpoint: str) -> int:
        with self._lock:
            return sum(1 for path, query in self.requests if endpoint_of(path, query) == endpoint)

    # ---- internals ----
    def _set_fault(self, endpoint: str, fault: str, status: int) -> None:
        with self._lock:
            self._faults[endpoint] = (fault, status)

    def _listen(self, port: int = 0) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        server.daemon_threads = True
        self._server, self.port = server, server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-theta-terminal", daemon=True)
        self._thread.start()

    def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def set_price(self, root: str, price: float) -> None:
        """Another root's price (QQQ, IWM...)."""
        with self._lock:
            self._others[root] = price

    def _market(self, root: str) -> tuple[float, datetime] | None:
        """The root's price and its time, None for a root the Terminal has nothing for."""
        with self._lock:
            if self._frozen is not None:
                prices, at = self._frozen
                return (prices[root], at) if root in prices else None
            other = self._others.get(root)
        now = self.clock()
        if root == self.symbol:
            return self.spy_path(now), now
        return (other, now) if other is not None else None

    def _fault_for(self, endpoint: str) -> tuple[str, int] | None:
        with self._lock:
            return self._faults.get(endpoint) or self._faults.get(ALL)

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, str, str]:
        """(status, content type, body) for one request; runs on the server's handler threads."""
        endpoint = endpoint_of(path, query)
        if endpoint is None:
            return 404, "text/plain", "NO_IMPL: there is no implementation of this request"
        fault = self._fault_for(endpoint)
        if fault is not None:
            kind, status = fault
            if kind == "hang":
                self._release.wait(self.hang_seconds)
            elif kind == "malformed":
                return 200, "application/json", '{"header": {"format": ["ms_of_day", "bid"'
            elif kind == "status":
                return self._error(path, status)
        root = (query.get("root") or query.get("symbol") or self.symbol).upper()
        market = self._market(root)
        if market is None:
            return self._error(path, 472)
        spot, now = market
        if path.startswith("/v2/"):
            return 200, "application/json", json.dumps(self._v2(endpoint, query, root, spot, now))
        return 200, "application/json", json.dumps(self._v3(endpoint, query, root, spot, now))

    def _error(self, path: str, status: int) -> tuple[int, str, str]:
        name, text = ERROR_NAMES.get(status, "GENERAL"), ERROR_TEXT.get(status, "error")
        if path.startswith("/v3/"):  # v3: a plain-text body, the status carries the code
            return status, "text/plain", f"{name}: {text}"
        header = {"latency_ms": 0, "error_type": name, "error_msg": text, "next_page": "null", "format": None}
        return status, "application/json", json.dumps({"header": header, "response": []})

    # v2 legacy JSON
    def _v2(self, endpoint: str, query: dict[str, str], root: str, spot: float, now: datetime) -> dict:
        ms, day = _ms_and_day(now)
        if endpoint == "stock_quote":
            bid, ask = round(spot - 0.01, 2), round(spot + 0.01, 2)
            return _v2_doc(QUOTE_FORMAT, [[ms, 300, 1, bid, 0, 200, 1, ask, 0, day]])
        expiry = int(query.get("exp", "0"))
        if endpoint == "option_quote":
            bid, ask, _ = option_prices(spot, int(query["strike"]) / 1000, query["right"])
            return _v2_doc(QUOTE_FORMAT, [[ms, 10, 5, bid, 50, 12, 5, ask, 50, day]])
        items = []
        for strike, right in self._contracts(root, spot):
            bid, ask, vol = option_prices(spot, strike, right)
            row = ([ms, 10, 5, bid, 50, 12, 5, ask, 50, day] if endpoint == "bulk_option_quote" else
                   [ms, bid, ask, 0.5, -0.1, 0.2, 0.01, -0.02, 3.0, vol, 0.0, ms, spot, day])
            items.append({"ticks": [row], "contract": {"root": root, "expiration": expiry,
                                                       "strike": round(strike * 1000), "right": right}})
        return _v2_doc(QUOTE_FORMAT if endpoint == "bulk_option_quote" else GREEKS_FORMAT, items)

    # v3 JSON (format=json)
    def _v3(self, endpoint: str, query: dict[str, str], root: str, spot: float, now: datetime) -> dict:
        stamp = now.astimezone(EASTERN).replace(tzinfo=None).isoformat(timespec="milliseconds")
        if endpoint == "stock_quote":
            return {"response": [{"symbol": root, "bid_size": 300, "bid_exchange": 1,
                                  "bid": round(spot - 0.01, 2), "bid_condition": 0, "ask_size": 200,
                                  "ask_exchange": 1, "ask": round(spot + 0.01, 2), "ask_condition": 0,
                                  "timestamp": stamp}]}
        expiration = query.get("expiration", "")
        expiration = f"{expiration[:4]}-{expiration[4:6]}-{expiration[6:]}" if "-" not in expiration else expiration
        contracts = self._contracts(root, spot)
        if endpoint == "option_quote":
            right = "C" if query.get("right", "").lower() == "call" else "P"
            contracts = [(float(query["strike"]), right)]
        items = []
        for strike, right in contracts:
            bid, ask, vol = option_prices(spot, strike, right)
            data = ({"bid_size": 10, "bid_exchange": 5, "bid": bid, "bid_condition": 50, "ask_size": 12,
                     "ask_exchange": 5, "ask": ask, "ask_condition": 50, "timestamp": stamp}
                    if endpoint != "bulk_greeks" else
                    {"bid": bid, "ask": ask, "implied_vol": vol, "iv_error": 0.0, "underlying_timestamp": stamp,
                     "underlying_price": spot, "timestamp": stamp})
            items.append({"contract": {"symbol": root, "strike": strike,
                                       "right": "CALL" if right == "C" else "PUT", "expiration": expiration},
                          "data": [data]})
        return {"response": items}

    def _contracts(self, root: str, spot: float) -> list[tuple[float, str]]:
        strikes = self.strikes if root == self.symbol else [float(k) for k in range(int(spot) - 10, int(spot) + 11)]
        return [(strike, right) for strike in strikes for right in ("C", "P")]

    def _enter(self, path: str, query: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((path, query))
            self._in_flight[path] += 1
            self.max_in_flight[path] = max(self.max_in_flight[path], self._in_flight[path])

    def _leave(self, path: str) -> None:
        with self._lock:
            self._in_flight[path] -= 1


def _v2_doc(fmt: list[str], response: list) -> dict:
    header = {"latency_ms": 1, "error_type": "null", "error_msg": "null", "next_page": "null", "format": fmt}
    return {"header": header, "response": response}


def _ms_and_day(now: datetime) -> tuple[int, int]:
    eastern = now.astimezone(EASTERN)
    midnight = eastern.replace(hour=0, minute=0, second=0, microsecond=0)
    ms = int((eastern.replace(tzinfo=None) - midnight.replace(tzinfo=None)).total_seconds() * 1000)
    return ms, int(f"{eastern:%Y%m%d}")


def _handler_for(terminal: FakeThetaTerminal) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # One request per connection, so an outage (listening socket closed) refuses the very next
        # request instead of letting a kept-alive connection carry on.
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            parts = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
            terminal._enter(parts.path, query)
            try:
                status, content_type, body = terminal.answer(parts.path, query)
            finally:
                terminal._leave(parts.path)
            payload = body.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (timeout) and closed: nothing to tell it

        def log_message(self, *args: object) -> None:
            pass

    return Handler
