"""The policy on multi-leg structures (domain/structure_rules.py through domain.policy)."""

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.closing_rules import ClosingRules
from domain.mode import Mode
from domain.model import OrderType, Side, WorkingOrder
from domain.policy import Close, CloseCombo, ConvertStop, Warn, determine_actions
from domain.structures import group_structures
from tests.support.domain_builders import contract, inputs, position, stop

C595, C600 = contract(595, "C"), contract(600, "C")
P595, P600 = contract(595, "P"), contract(600, "P")
SPREAD = [position(C595, 5), position(C600, -5)]  # a debit call spread
SIDE_AWARE = ClosingRules(lapse_longs=True, long_min_bid=0.05, short_assignment_probability=0.05)


def of_type(result, kind):
    return [d for d in result.decisions if isinstance(d, kind)]


def test_the_595_600_spread_at_t5_is_closed_as_one_combo_never_the_long_alone():
    result = determine_actions(inputs(SPREAD, 598, 4))  # seed rules: the long is in the money, the short is not
    assert not of_type(result, Close)
    (combo,) = of_type(result, CloseCombo)
    assert combo.units == 5 and {(leg.contract, leg.side, leg.quantity) for leg in combo.legs} == {
        (C595, Side.SELL, 5), (C600, Side.BUY, 5)}
    assert combo.ratio(combo.legs[0]) == 1 and "short partners close with it" in combo.reason
    (structure,) = result.structures
    assert structure.delivery_at_spot == 500 and structure.plan.combo


def test_side_aware_rules_wait_for_t2_and_then_close_the_spread_whole():
    assert not of_type(determine_actions(inputs(SPREAD, 598, 4, rules=SIDE_AWARE)), CloseCombo)
    (combo,) = of_type(determine_actions(inputs(SPREAD, 598, 1.5, rules=SIDE_AWARE)), CloseCombo)
    assert {leg.contract for leg in combo.legs} == {C595, C600}


def test_with_an_order_working_on_a_leg_the_short_goes_first_and_the_long_is_held():
    orders = [stop(C600, Side.BUY, 5)]  # the trader's stop on the short leg: no combo over it
    result = determine_actions(inputs(SPREAD, 598, 4, orders=orders))
    assert not of_type(result, CloseCombo)
    assert not [d for d in of_type(result, Close) if d.contract == C595]
    assert [d.order.contract for d in of_type(result, ConvertStop)] == [C600]
    assert any("held" in w.reason for w in of_type(result, Warn) if w.contract == C595)


def test_a_short_leg_in_the_money_is_bought_back_first_its_long_kept():
    credit_put_spread = [position(P600, -3), position(P595, 3)]
    result = determine_actions(inputs(credit_put_spread, 598, 4))
    assert [(d.contract, d.side, d.quantity) for d in of_type(result, Close)] == [(P600, Side.BUY, 3)]
    assert not of_type(result, CloseCombo)
    (structure,) = result.structures
    assert "bought back first" in structure.plan.reason


def test_a_spread_settling_deep_in_the_money_with_no_delivery_is_left_alone_when_the_rules_say_so():
    leave = replace(SIDE_AWARE, leave_settled_spreads=True)
    result = determine_actions(inputs(SPREAD, 610, 1.5, rules=leave))
    assert not of_type(result, Close) and not of_type(result, CloseCombo)
    (structure,) = result.structures
    assert structure.plan.left_alone and (structure.fewest, structure.most) == (0, 0)
    assert any("left alone" in w.reason for w in of_type(result, Warn))
    # Near the short strike the after-hours move can still deliver shares: closed.
    assert of_type(determine_actions(inputs(SPREAD, 600.5, 1.5, rules=leave)), CloseCombo)
    # Emergency mode closes everything all the same.
    assert of_type(determine_actions(inputs(SPREAD, 610, 1.5, mode=Mode.EMERGENCY, rules=leave)), CloseCombo)


def test_monitor_mode_only_says_what_the_combo_would_be():
    result = determine_actions(inputs(SPREAD, 598, 4, mode=Mode.MONITOR))
    assert not of_type(result, CloseCombo)
    assert any(w.would_trade and "combo" in w.reason for w in of_type(result, Warn))


def test_a_held_long_leg_keeps_its_stop_at_t2():
    orders = [stop(C595, Side.SELL, 5)]
    result = determine_actions(inputs([position(C595, 5), position(C600, -5)], 590, 1.5, orders=orders))
    assert not of_type(result, ConvertStop) and not of_type(result, Close)


strikes = st.sampled_from([590, 595, 598, 600, 602, 605])
books = st.lists(st.tuples(strikes, st.sampled_from("CP"), st.integers(-4, 4).filter(bool)), min_size=1, max_size=6)


@settings(max_examples=150)
@given(books, st.floats(585, 612), st.sampled_from([20, 4, 1.5]), st.sampled_from([ClosingRules(), SIDE_AWARE]),
       st.sampled_from([Mode.ACTIVE, Mode.EMERGENCY]))
def test_no_long_leg_is_sold_alone_while_its_short_partner_stays_open(book, spot, minutes, rules, mode):
    merged: dict = {}
    for strike, right, quantity in book:
        merged[contract(strike, right)] = merged.get(contract(strike, right), 0) + quantity
    positions = [position(c, q) for c, q in merged.items() if q]
    result = determine_actions(inputs(positions, spot, minutes, mode=mode, rules=rules))
    protecting: dict = {}
    for structure in group_structures(positions):
        for leg in structure.legs:
            if leg.quantity > 0 and structure.partners(leg.contract):
                protecting[leg.contract] = protecting.get(leg.contract, 0) + leg.quantity
    held = {p.contract: p.quantity for p in positions}
    for close in of_type(result, Close):
        if close.side is Side.SELL:
            assert close.quantity <= held[close.contract] - protecting.get(close.contract, 0)
    for combo in of_type(result, CloseCombo):
        for leg in combo.legs:
            assert leg.quantity <= abs(held[leg.contract]) and leg.quantity % combo.units == 0


def test_while_our_combo_works_its_legs_get_no_other_decision():
    ref = "CLN-20261125-SPY-595C+600C-1"
    working = [WorkingOrder("7", c, side, OrderType.LIMIT, 5, limit_price=-2.1, order_ref=ref, combo=True)
               for c, side in ((C595, Side.SELL), (C600, Side.BUY))]
    result = determine_actions(inputs(SPREAD, 598, 4, orders=working))
    assert not of_type(result, CloseCombo) and not of_type(result, Close)
    assert not [w for w in of_type(result, Warn) if "held" in w.reason]
