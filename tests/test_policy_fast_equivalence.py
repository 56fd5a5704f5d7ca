"""The optimized ``determine_actions`` returns exactly the PolicyResult of the straightforward one.

The reference is the policy as it was before it was made faster (tests/reference_policy.py, kept
only here). Random books mix longs and shorts, calls and puts, spreads (same symbol and expiry, so
structures form), other expiries, a cash-settled root and a second underlying; working orders are
the trader's and ours, stops and limits, modifiable or not, combo legs; quotes fresh, stale or
missing; every stage from T-30 past the close, in every mode.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.closing_rules import ClosingRules
from domain.model import OptionContract, OrderType, Position, Quote, Right, Side, WorkingOrder
from domain.order_refs import make_order_ref
from domain.policy import Mode, PolicyInput, determine_actions
from tests import reference_policy
from tests.domain_builders import DAY, SESSION, at_minutes

SYMBOLS = ("SPY", "SPY", "SPY", "QQQ", "SPX")  # SPY weighted: most books are one underlying's spreads
STRIKES = tuple(float(s) for s in range(495, 506))

contracts = st.builds(
    OptionContract, st.sampled_from(SYMBOLS), st.sampled_from((Right.CALL, Right.PUT)), st.sampled_from(STRIKES),
    st.sampled_from((DAY, DAY, DAY, DAY + timedelta(days=1))))


@st.composite
def policy_inputs(draw: st.DrawFn) -> PolicyInput:
    held = draw(st.dictionaries(contracts, st.integers(-5, 5), max_size=10))
    positions = [Position(c, q, avg_cost=1.0) for c, q in held.items()]
    # Half the books in the last five minutes, where the closes, stops and combos are decided
    minutes = draw(st.one_of(st.floats(-2.0, 40.0, allow_nan=False), st.floats(0.0, 5.0, allow_nan=False)))
    now = at_minutes(minutes)
    known = list(held) or [draw(contracts)]
    orders = []
    for i in range(draw(st.integers(0, 6))):
        c = draw(st.sampled_from(known))
        order_type = draw(st.sampled_from((OrderType.STOP, OrderType.LIMIT, OrderType.MARKET, OrderType.OTHER)))
        ours = draw(st.booleans())
        quantity = draw(st.integers(1, 6))
        side = draw(st.sampled_from((Side.BUY, Side.SELL)))
        if held.get(c) and draw(st.booleans()):  # often a covering order: the stops and cancels to decide on
            side = Side.SELL if held[c] > 0 else Side.BUY
        orders.append(WorkingOrder(
            f"o{i}", c, side, order_type, quantity,
            filled=draw(st.integers(0, quantity)), stop_price=1.0 if order_type is OrderType.STOP else None,
            limit_price=1.0 if order_type is OrderType.LIMIT else None,
            order_ref=make_order_ref(c, i + 1) if ours else None, modifiable=draw(st.booleans()),
            combo=ours and draw(st.booleans())))
    spots = {}
    for symbol in ("SPY", "QQQ", "SPX"):
        if draw(st.booleans()) or symbol == "SPY":
            price = draw(st.floats(485.0, 515.0, allow_nan=False))
            age = draw(st.sampled_from((0.0, 1.0, 10.0, 120.0)))
            spots[symbol] = Quote(symbol, price - 0.01, price + 0.01, price, now - timedelta(seconds=age), "test")
    quotes = {}
    for c in known:
        if draw(st.integers(0, 3)):
            mid = draw(st.floats(0.01, 15.0, allow_nan=False))
            vol = draw(st.one_of(st.none(), st.floats(0.05, 0.9, allow_nan=False)))
            age = draw(st.sampled_from((0.0, 5.0, 60.0)))
            quotes[c.key] = Quote(c.key, mid * 0.98, mid * 1.02, mid, now - timedelta(seconds=age), "test",
                                  implied_vol=vol)
    rules = ClosingRules(lapse_longs=draw(st.booleans()))
    return PolicyInput(positions, orders, spots, quotes, now, SESSION, draw(st.sampled_from(list(Mode))),
                       rules=rules)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy_inputs())
def test_optimized_policy_returns_exactly_the_reference_result(inputs: PolicyInput) -> None:
    assert determine_actions(inputs) == reference_policy.determine_actions(inputs)


def test_reference_is_not_vacuous() -> None:
    """The random books do reach closes, combos and warnings: the equality above is not of empty results."""
    seen: set[str] = set()

    @settings(max_examples=400, deadline=None, database=None, derandomize=True)
    @given(policy_inputs())
    def collect(inputs: PolicyInput) -> None:
        seen.update(type(d).__name__ for d in determine_actions(inputs).decisions)

    collect()
    assert {"Close", "Warn", "CancelOrder", "ConvertStop", "CloseCombo"} <= seen
