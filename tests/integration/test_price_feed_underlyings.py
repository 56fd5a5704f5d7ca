"""The PriceFeed quotes the primary and every held underlying that delivers shares, each on its own;
one failing underlying is alerted once and leaves the others judged."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from domain.feed_errors import FeedError, FeedErrorKind
from domain.model import OptionContract, Position, Quote
from gateways.sim_market import SimulatedMarket
from tests.support.ib_tree import CLOSE
from tests.support.paper_tree import run_paper

START = CLOSE - timedelta(minutes=20)
HELD = [Position(OptionContract.parse_key(key), quantity, 1.0) for key, quantity in (
    ("SPY 20261125 660C", 1), ("IWM 20261125 215P", -1), ("QQQ 20261125 530C", 2), ("SPXW 20261125 5800C", 1),
    ("IWM 20261202 210P", 1))]  # next week's: still held, so its underlying is quoted


class Recording:
    """The market, counting the underlyings asked for; ``down`` ones fail with an outage until ``until``."""

    def __init__(self, market: SimulatedMarket, down: str, until) -> None:
        self.market, self.down, self.until, self.name = market, down, until, market.name
        self.asked: Counter[str] = Counter()

    def underlying_quote(self, symbol: str) -> Quote:
        self.asked[symbol] += 1
        if symbol == self.down and self.market.clock.now() < self.until:
            raise FeedError(FeedErrorKind.OUTAGE, f"{symbol}: upstream gone")
        return self.market.underlying_quote(symbol)

    def option_quotes(self, contracts):
        return self.market.option_quotes(contracts)


def test_each_held_underlying_is_quoted_and_one_failing_is_alerted_once_without_stopping_the_others(tmp_path):
    sources: list[Recording] = []
    statuses: list[dict] = []

    def source(market: SimulatedMarket) -> Recording:
        sources.append(Recording(market, "IWM", START + timedelta(seconds=30)))
        return sources[0]

    _, _, alerts = run_paper(tmp_path, HELD, start=START, seconds=60, prices={"SPY": 641.0, "IWM": 220.0, "QQQ": 510.0},
                             source=source, watch=lambda service: statuses.append(service.status()))
    asked = sources[0].asked
    assert set(asked) == {"SPY", "IWM", "QQQ"} and asked["SPY"] == asked["QQQ"] >= 59  # never SPXW
    titles = [a.title for a in alerts.sent if "price" in a.title]
    assert titles == ["IWM price (sim) down", "IWM price (sim) restored"]
    while_down = statuses[10]
    assert {p["contract"].split()[0] for p in while_down["positions_at_risk"]} == {"SPY", "QQQ"}
    assert while_down["spots"].keys() == {"SPY", "QQQ"}
    assert {p["contract"].split()[0] for p in statuses[-1]["positions_at_risk"]} == {"SPY", "IWM", "QQQ"}
