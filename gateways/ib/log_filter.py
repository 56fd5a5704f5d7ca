"""ib_async's own log lines that one operator line of ours replaces: a failing connect, market-data errors."""

from __future__ import annotations

import logging
import re

from gateways.ib import codes


class _NotConnectFailures(logging.Filter):
    """ib_async's own lines for each connect attempt and its failure; ours says it once, with what to check."""

    DROPPED = ("API connection failed", "Make sure API port", "Connecting to ", "Disconnecting")

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.DROPPED)


def quiet_ib_async_connect_failures() -> None:
    """Only these: ib_async's other errors (an order IB refused, say) are worth reading."""
    client = logging.getLogger("ib_async.client")
    if not any(isinstance(f, _NotConnectFailures) for f in client.filters):
        client.addFilter(_NotConnectFailures())


class _NotMarketDataErrors(logging.Filter):
    """ib_async's line for every market-data error (one per retry); IBPriceSource says it once, with the fix.
    Codes IB also sends for orders (200) stay: ib_async's line is all an order's refusal gets there."""

    CODES = frozenset(codes.MARKET_DATA_CODES) - {200}
    LINE = re.compile(r"(?:Error|Warning) (\d+), reqId ")  # ib_async.wrapper.error's own wording

    def filter(self, record: logging.LogRecord) -> bool:
        match = self.LINE.match(record.getMessage())
        return match is None or int(match.group(1)) not in self.CODES


def quiet_ib_async_market_data_errors() -> None:
    wrapper = logging.getLogger("ib_async.wrapper")
    if not any(isinstance(f, _NotMarketDataErrors) for f in wrapper.filters):
        wrapper.addFilter(_NotMarketDataErrors())
