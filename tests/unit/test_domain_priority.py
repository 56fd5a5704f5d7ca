"""Closes go out riskiest first (domain/priority.py, applied by domain.policy.riskiest_first)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.closing_rules import ClosingRules
from domain.mode import Mode
from domain.model import OrderType, Side, WorkingOrder
from domain.order_refs import make_order_ref
from domain.policy import CancelOrder, Close, CloseCombo, ConvertStop, Warn, determine_actions, priority_of
from domain.priority import close_priority
from tests.support.domain_builders import contract, inputs, position, stop

CLOSING = Close | CloseCombo | ConvertStop
OTHERS = {symbol: (640.0, 0.0) for symbol in ("QQQ", "IWM", "DIA")}


def test_the_key_puts_in_the_money_first_then_shorts_then_deeper():
    ranked = [
        close_priority(True, None),     # no price: nothing says it is safe
        close_priority(True, 0.03),     # short, deep in the money
        close_priority(True, 0.001),
        close_priority(False, 0.05),    # a long, however deep, after every short in the money
        close_priority(False, 0.002),
        close_priority(True, 0.0),      # at the strike: near the money, not in it
        close_priority(True, -0.004),
        close_priority(False, -0.001),  # near-the-money long last
        close_priority(False, -0.004),
    ]
    assert ranked == sorted(ranked)
    assert len(set(ranked)) == len(ranked)


def test_at_t2_the_short_in_the_money_goes_before_the_long_and_the_near_ones():
    # each on its own underlying, all at 640, so that no two make a structure
    near_long, near_short = contract(641, "C", symbol="QQQ"), contract(639, "P", symbol="IWM")  # -0.16% each
    itm_long, itm_short = contract(630, "C", symbol="DIA"), contract(638, "C")  # +1.59%, +0.31%
    held = [position(near_long, 1), position(itm_long, 1), position(near_short, -1), position(itm_short, -1)]
    result = determine_actions(inputs(held, 640, 1.5, others=OTHERS))
    order = [d.contract for d in result.decisions if isinstance(d, Close)]
    assert order == [itm_short, itm_long, near_short, near_long]


def test_a_combo_ranks_as_its_riskiest_short_leg():
    c595, c600 = contract(595, "C"), contract(600, "C")
    result = determine_actions(inputs([position(c595, 5), position(c600, -5)], 598, 1.5))
    (combo,) = [d for d in result.decisions if isinstance(d, CloseCombo)]
    short_leg = next(leg for leg in combo.legs if leg.side is Side.BUY)
    assert priority_of(combo, {}) == priority_of(short_leg, {})  # the short is out of the money: near


strikes = st.sampled_from([630.0, 635.0, 637.0, 639.0, 640.0, 641.0, 643.0, 650.0])
contracts = st.builds(contract, strikes, st.sampled_from(["C", "P"]))


@st.composite
def books(draw):
    held = draw(st.lists(st.tuples(contracts, st.integers(-9, 9).filter(bool)), max_size=8, unique_by=lambda t: t[0]))
    orders = []
    for index in range(draw(st.integers(0, 4))):
        c = draw(contracts)
        ref = draw(st.sampled_from([None, make_order_ref(c, index)]))
        kind = draw(st.sampled_from([OrderType.STOP, OrderType.LIMIT, OrderType.STOP_LIMIT]))
        orders.append(WorkingOrder(f"w{index}", c, draw(st.sampled_from(list(Side))), kind, draw(st.integers(1, 9)),
                                   limit_price=1.0, stop_price=1.0, order_ref=ref))
    return [position(c, q) for c, q in held], orders


@settings(max_examples=300)
@given(book=books(), spot=st.floats(625, 655), minutes=st.sampled_from([20.0, 4.0, 1.5, 0.5]),
       mode=st.sampled_from([Mode.ACTIVE, Mode.EMERGENCY]), rules=st.sampled_from([
           ClosingRules(), ClosingRules(lapse_longs=True, long_min_bid=0.05, short_assignment_probability=0.05)]))
def test_closes_always_come_riskiest_first_then_the_rest(book, spot, minutes, mode, rules):
    positions, orders = book
    result = determine_actions(inputs(positions, spot, minutes, mode=mode, orders=orders, rules=rules))
    moneyness = {a.contract: a.moneyness for a in result.assessments}
    kinds = [isinstance(d, CLOSING) for d in result.decisions]
    assert kinds == sorted(kinds, reverse=True)  # every close before any warning or cancel
    keys = [priority_of(d, moneyness) for d in result.decisions if isinstance(d, CLOSING)]
    assert keys == sorted(keys)
    assert all(isinstance(d, Warn | CancelOrder) for d in result.decisions if not isinstance(d, CLOSING))


def test_a_converted_stop_takes_its_position_s_rank():
    itm_short, near_long = contract(638, "C"), contract(641, "C", symbol="QQQ")
    held = [position(near_long, 1), position(itm_short, -1)]
    orders = [stop(near_long, Side.SELL, 1, order_id="long"), stop(itm_short, Side.BUY, 1, order_id="short")]
    result = determine_actions(inputs(held, 640, 1.5, orders=orders, others=OTHERS))
    assert [d.order.order_id for d in result.decisions if isinstance(d, ConvertStop)] == ["short", "long"]
