"""One client's market-data lines: what reqMktData is answered with, and the ticks each line gets.

IB answers a subscription with marketDataType, then ticks. The type follows the client's last
reqMarketDataType: live (1) or frozen (2) where the account has the data, or what
``market_data_types`` scripts for the instrument; with a scripted ``market_data_errors`` entry the
request is answered with that error first: after 10090/10091 (part not subscribed) live ticks still
stream, after 10167 ("displaying delayed market data") delayed ticks (66/67/68, type 3, or 4 when the
client asked for delayed-frozen), after any other code nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.fakes.ib_gateway import codes
from tests.fakes.ib_gateway import encoders as enc


@dataclass(frozen=True)
class Line:
    key: str
    delayed: bool


@dataclass(frozen=True)
class Quote:
    bid: float
    ask: float
    last: float | None = None
    implied_vol: float | None = None


# Errors after which IB still streams for the request: live (part not subscribed), or delayed.
STREAMS_LIVE_AFTER = frozenset({codes.PART_OF_MARKET_DATA_NOT_SUBSCRIBED, 10091})


class MarketDataLines:
    def __init__(self, errors: dict[str, tuple[int, str]], types: dict[str, int] | None = None) -> None:
        self._errors = errors
        self._types = types or {}
        self.requested_type = enc.LIVE
        self.lines: dict[int, Line] = {}  # request id -> line

    def subscribe(self, req_id: int, key: str) -> list[list[object]]:
        """The answer to reqMktData before any tick: the type, or the scripted error."""
        error = self._errors.get(key)
        if error is not None and error[0] != codes.DELAYED_MARKET_DATA and error[0] not in STREAMS_LIVE_AFTER:
            return [enc.error(req_id, *error)]
        scripted = self._types.get(key)
        delayed = error is not None and error[0] == codes.DELAYED_MARKET_DATA or scripted in (enc.DELAYED,
                                                                                               enc.DELAYED_FROZEN)
        self.lines[req_id] = Line(key, delayed)
        frozen = self.requested_type in (enc.FROZEN, enc.DELAYED_FROZEN)
        data_type = scripted or ((enc.DELAYED_FROZEN if frozen else enc.DELAYED) if delayed
                                 else (enc.FROZEN if frozen else enc.LIVE))
        return [*([enc.error(req_id, *error)] if error else []), enc.market_data_type(req_id, data_type)]

    def cancel(self, req_id: int) -> bool:
        """Whether the line was held (IB answers a cancel of one it does not hold with error 300)."""
        return self.lines.pop(req_id, None) is not None

    def instruments(self) -> list[str]:
        """The instruments this client has a line for."""
        return [line.key for line in self.lines.values()]

    def clear(self) -> None:
        """Every line dropped (IB after 1101, connectivity restored with data lost)."""
        self.lines.clear()

    def ticks(self, key: str, quote: Quote, underlying_price: float | None, is_option: bool) -> list[list[object]]:
        """The ticks every line on ``key`` gets for this quote."""
        messages: list[list[object]] = []
        for req_id, line in self.lines.items():
            if line.key != key:
                continue
            messages += [enc.tick_price(req_id, _tick(enc.TICK_BID, line), quote.bid),
                         enc.tick_price(req_id, _tick(enc.TICK_ASK, line), quote.ask)]
            if quote.last is not None:
                messages.append(enc.tick_price(req_id, _tick(enc.TICK_LAST, line), quote.last))
            if quote.implied_vol is not None and is_option:
                messages.append(enc.tick_option_computation(
                    req_id, quote.implied_vol, (quote.bid + quote.ask) / 2,
                    underlying_price if underlying_price is not None else -1, _tick(enc.TICK_MODEL_OPTION, line)))
        return messages


def _tick(tick_type: int, line: Line) -> int:
    return enc.DELAYED_TICKS[tick_type] if line.delayed else tick_type
