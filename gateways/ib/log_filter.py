"""ib_async's own log lines for a failing connect, which our one operator line replaces."""

from __future__ import annotations

import logging


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
