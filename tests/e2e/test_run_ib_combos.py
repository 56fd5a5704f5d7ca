"""Spreads through the actor tree and the real ib_async client, against the fake IB Gateway: a structure whose
legs all close goes as one combo (BAG) order, filled whole; with combos refused, the short leg goes first."""

from __future__ import annotations

from datetime import timedelta

from domain.audit import ActionKind
from gateways.ib import IBPriceSource
from tests.fakes.ib_gateway import FakeContract, FakePosition, GatewayScript
from tests.fakes.ib_gateway.script import QuoteStep
from tests.support.ib_tree import CLOSE, audited, run_tree

LONG, SHORT = "SPY 20261125 595C", "SPY 20261125 600C"
SIDE_AWARE = {"lapse_longs": True, "long_min_bid": 0.05, "short_assignment_probability": 0.05,
              "leave_settled_spreads": True}


def spread(**script: object) -> GatewayScript:
    """Long 5 595C, short 5 600C, SPY at 598: between the strikes, two minutes before the close."""
    return GatewayScript(
        positions=[FakePosition(FakeContract.option(LONG), 5, 240.0),
                   FakePosition(FakeContract.option(SHORT), -5, 70.0)],
        price_path=[QuoteStep(0, "SPY", 597.99, 598.01, 598.0),
                    QuoteStep(0, LONG, 3.00, 3.10, 3.05, implied_vol=0.12),
                    QuoteStep(0, SHORT, 0.08, 0.12, 0.10, implied_vol=0.12)],
        **script)  # type: ignore[arg-type]


def ib_prices(settings, broker, clock, alert):
    return IBPriceSource(broker, clock)


class Watch:
    """What the gateway holds, read on every tick (the gateway is gone once the tree has run)."""

    def __init__(self) -> None:
        self.positions: dict[str, int] = {}
        self.orders: list = []

    def __call__(self, gateway, service) -> bool:
        self.positions = {key: gateway.position(key) for key in (LONG, SHORT)}
        self.orders = [order for _, order in sorted(gateway.orders().items())]
        return not any(self.positions.values())


def test_the_spread_closes_as_one_combo_order_filled_whole_at_the_gateway(tmp_path):
    start = CLOSE - timedelta(seconds=135)  # quotes of both legs in before T-2 (at 120 s), also on a loaded box
    watch = Watch()
    run_tree(tmp_path, spread(), start=start, seconds=120, prices=ib_prices, until=watch, **SIDE_AWARE)
    assert watch.positions == {LONG: 0, SHORT: 0}
    (combo,) = watch.orders  # one order, never a single leg
    assert combo.contract.sec_type == "BAG" and combo.action == "BUY" and combo.quantity == 5
    assert sorted((leg.contract.key, leg.action, leg.ratio) for leg in combo.legs) == [
        (LONG, "SELL", 1), (SHORT, "BUY", 1)]
    fills = [a for a in audited(tmp_path) if a.action is ActionKind.FILL]
    assert sorted((f"{a.strike:g}{a.right}", a.quantity) for a in fills) == [("595C", 5), ("600C", 5)]  # not the BAG's
    assert len({a.at for a in fills}) == 1


def test_with_combos_refused_the_short_leg_is_bought_back_before_the_long_is_sold(tmp_path):
    start = CLOSE - timedelta(seconds=135)  # quotes of both legs in before T-2 (at 120 s), also on a loaded box
    watch = Watch()
    run_tree(tmp_path, spread(refuse_combos=True), start=start, seconds=120, prices=ib_prices, until=watch,
             **SIDE_AWARE)
    assert watch.positions == {LONG: 0, SHORT: 0}
    singles = [order for order in watch.orders if order.contract.sec_type != "BAG"]
    assert [(order.contract.key, order.action) for order in singles][:2] == [(SHORT, "BUY"), (LONG, "SELL")]
    records = audited(tmp_path)
    short_fill = next(a for a in records if a.action is ActionKind.FILL and a.strike == 600)
    long_closes = [a for a in records if a.action is ActionKind.CLOSE and a.strike == 595 and a.success
                   and "combo" not in a.details]  # the combo's own placement record comes before the refusal
    assert long_closes and all(a.at >= short_fill.at for a in long_closes)
    assert any("refused the combo" in a.reason for a in records)
