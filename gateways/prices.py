"""A price source that reports its failures (gateways.ports.PriceSource is the interface the PriceFeed polls)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from domain.feed_errors import FeedError
from domain.model import OptionContract, Quote
from gateways.ports import PriceSource

OnFeedError = Callable[[str, str], None]  # (source name, FeedErrorKind value), e.g. Metrics.feed_error


class ReportingSource:
    """``source`` telling ``on_error`` of every failed request, then raising it as before.

    Wraps each real source (not the failover around them), so a failure the failover absorbs by
    using the other source is still counted once, under the source that failed.
    """

    def __init__(self, source: PriceSource, on_error: OnFeedError) -> None:
        self._source = source
        self._on_error = on_error

    @property
    def name(self) -> str:
        return self._source.name

    def underlying_quote(self, symbol: str) -> Quote:
        try:
            return self._source.underlying_quote(symbol)
        except FeedError as error:
            self._on_error(self._source.name, error.kind.value)
            raise

    def option_quotes(self, contracts: Sequence[OptionContract]) -> Mapping[str, Quote]:
        try:
            return self._source.option_quotes(contracts)
        except FeedError as error:
            self._on_error(self._source.name, error.kind.value)
            raise
