from hypothesis import example, given, settings
from hypothesis import strategies as st

from domain.mode import Mode
from domain.model import OrderType, Side, WorkingOrder
from domain.order_refs import is_cleanup_ref, make_order_ref
from domain.policy import CancelOrder, Close, ConvertStop, StageAction, Warn, determine_actions
from domain.stages import Stage
from tests.support.domain_builders import DAY, contract, inputs, position, stop

ITM_CALL = contract(635, "C")  # spot 640: +0.79%
NEAR_PUT = contract(637, "P")  # spot 640: -0.47% (inside T-2's 0.5%, outside T-5's ITM rule)
FAR_PUT = contract(620, "P")  # spot 640: -3.1%


def closes(result):
    return [d for d in result.decisions if isinstance(d, Close)]


def test_nothing_happens_before_t30():
    result = determine_actions(inputs([position(ITM_CALL, 2)], 640, 45))
    assert result.stage is Stage.NORMAL and result.decisions == ()
    assert result.assessments[0].moneyness > 0


def test_t30_warns_positions_within_two_percent_only():
    result = determine_actions(inputs([position(ITM_CALL, 2), position(FAR_PUT, -1)], 640, 20))
    warned = [d.contract for d in result.decisions if isinstance(d, Warn)]
    assert result.stage is Stage.T30 and warned == [ITM_CALL]
    assert not closes(result)


def test_t5_closes_in_the_money_and_watches_near():
    result = determine_actions(inputs([position(ITM_CALL, 2), position(NEAR_PUT, -3)], 640, 4))
    (close,) = closes(result)
    assert close.contract == ITM_CALL and close.side is Side.SELL and close.quantity == 2
    assert close.reference_mid == 1.0
    actions = {a.contract: a.action for a in result.assessments}
    assert actions[NEAR_PUT] is StageAction.WATCH


def test_t2_closes_near_the_money_shorts_by_buying():
    result = determine_actions(inputs([position(NEAR_PUT, -3), position(FAR_PUT, -1)], 640, 1.5))
    (close,) = closes(result)
    assert close.contract == NEAR_PUT and close.side is Side.BUY and close.quantity == 3


def test_monitor_mode_never_trades_but_says_what_it_would_do():
    result = determine_actions(inputs([position(ITM_CALL, 2)], 640, 4, mode=Mode.MONITOR,
                                      orders=[stop(ITM_CALL, Side.SELL, 2)]))
    assert result.decisions and all(isinstance(d, Warn) and d.would_trade for d in result.decisions)


def test_emergency_closes_every_expiring_position_even_far_out_of_the_money():
    later = contract(640, "C", expiry=DAY.replace(day=27))
    result = determine_actions(inputs([position(FAR_PUT, -1), position(later, 1)], 640, 200, mode=Mode.EMERGENCY))
    assert [c.contract for c in closes(result)] == [FAR_PUT]


def test_stale_spot_blocks_decisions_but_not_t2_stop_conversion():
    result = determine_actions(inputs([position(ITM_CALL, 2)], 640, 1.5, orders=[stop(ITM_CALL, Side.SELL, 2)],
                                      spot_age=30))
    assert not closes(result) and [(u.symbol, u.unjudged) for u in result.stale] == [("SPY", (ITM_CALL,))]
    assert [type(d) for d in result.decisions] == [ConvertStop]


def test_closing_quantity_subtracts_working_closing_orders():
    ours = WorkingOrder("o1", ITM_CALL, Side.SELL, OrderType.LIMIT, 5, filled=2, limit_price=1.0,
                        order_ref=make_order_ref(ITM_CALL, 1))
    result = determine_actions(inputs([position(ITM_CALL, 5)], 640, 4, orders=[ours]))
    (close,) = closes(result)
    assert close.quantity == 2  # 5 held, 3 still working


def test_covering_stop_is_converted_instead_of_a_new_close_at_t5():
    result = determine_actions(inputs([position(ITM_CALL, 2)], 640, 4, orders=[stop(ITM_CALL, Side.SELL, 2)]))
    assert [type(d) for d in result.decisions] == [ConvertStop]


def test_traders_resting_limit_is_cancelled_before_any_close():
    take_profit = WorkingOrder("tp", ITM_CALL, Side.SELL, OrderType.LIMIT, 2, limit_price=9.0)
    result = determine_actions(inputs([position(ITM_CALL, 2)], 640, 4, orders=[take_profit]))
    assert [type(d) for d in result.decisions] == [CancelOrder]


def test_t2_cancels_a_stop_that_would_open_a_position():
    opening = stop(FAR_PUT, Side.BUY, 1, order_id="open")  # no position in FAR_PUT
    result = determine_actions(inputs([position(ITM_CALL, 1)], 640, 1.0, orders=[opening]))
    cancels = [d for d in result.decisions if isinstance(d, CancelOrder)]
    assert [c.order.order_id for c in cancels] == ["open"]


def test_stop_larger_than_the_position_is_cancelled_not_converted():
    result = determine_actions(inputs([position(FAR_PUT, -1)], 640, 1.0,
                                      orders=[stop(FAR_PUT, Side.BUY, 3, order_id="big")]))
    assert [type(d) for d in result.decisions if not isinstance(d, Warn)] == [CancelOrder]


def test_after_the_close_nothing_is_done():
    result = determine_actions(inputs([position(ITM_CALL, 2)], 640, -1))
    assert result.stage is Stage.CLOSED and result.decisions == ()


# --- property: the policy never opens or enlarges a position --------------------------------------

strikes = st.sampled_from([630.0, 635.0, 637.0, 640.0, 643.0, 650.0])
rights = st.sampled_from(["C", "P"])
contracts = st.builds(contract, strikes, rights)


@st.composite
def books(draw):
    held = draw(st.lists(st.tuples(contracts, st.integers(-20, 20).filter(bool)), max_size=5,
                         unique_by=lambda t: t[0]))
    positions = [position(c, q) for c, q in held]
    orders = []
    for index in range(draw(st.integers(0, 6))):
        c = draw(contracts)
        kind = draw(st.sampled_from(list(OrderType)))
        ref = draw(st.sampled_from([None, make_order_ref(c, index)]))
        quantity = draw(st.integers(1, 25))
        orders.append(WorkingOrder(f"w{index}", c, draw(st.sampled_from(list(Side))), kind, quantity,
                                   filled=draw(st.integers(0, quantity)), limit_price=1.0, stop_price=1.0,
                                   order_ref=ref, modifiable=draw(st.booleans())))
    return positions, orders


# The failure hypothesis found (at T-5 our own stop was forgotten when the trader's was converted: two
# marketable sells against a long 2), kept so the property can never pass by chance on it.
_ITM_CALL = contract(630.0, "C")


@settings(max_examples=400)
@given(book=books(), spot=st.floats(620, 660), minutes=st.floats(-5, 60),
       mode=st.sampled_from(list(Mode)))
@example(book=([position(_ITM_CALL, 2)],
               [stop(_ITM_CALL, Side.SELL, 2, order_id="ours", ref=make_order_ref(_ITM_CALL, 1)),
                stop(_ITM_CALL, Side.SELL, 2, order_id="traders")]),
         spot=640.0, minutes=4.0, mode=Mode.ACTIVE)
def test_policy_never_opens_or_enlarges_a_position(book, spot, minutes, mode):
    positions, orders = book
    result = determine_actions(inputs(positions, spot, minutes, mode=mode, orders=orders))
    if mode is Mode.MONITOR:
        assert all(isinstance(d, Warn) for d in result.decisions)
    held = {p.contract: p.quantity for p in positions}
    cancelled = {d.order.order_id for d in result.decisions if isinstance(d, CancelOrder)}
    converted = {d.order.order_id for d in result.decisions if isinstance(d, ConvertStop)}
    for decision in result.decisions:
        if isinstance(decision, Close):
            quantity = held[decision.contract]
            assert decision.side is (Side.SELL if quantity > 0 else Side.BUY)
        if isinstance(decision, ConvertStop):
            quantity = held.get(decision.order.contract, 0)
            assert quantity != 0 and decision.order.side is (Side.SELL if quantity > 0 else Side.BUY)
            assert decision.order.is_stop
        if isinstance(decision, ConvertStop | CancelOrder):
            # IB refuses to change these: asking again and again used to trip the breaker
            assert decision.order.modifiable and not is_cleanup_ref(decision.order.order_ref)
    for c, quantity in held.items():
        closing_side = Side.SELL if quantity > 0 else Side.BUY
        committed = sum(d.quantity for d in result.decisions if isinstance(d, Close) and d.contract == c)
        committed += sum(d.order.remaining for d in result.decisions
                         if isinstance(d, ConvertStop) and d.order.contract == c)
        still_working = sum(o.remaining for o in orders if o.contract == c and o.side is closing_side
                            and o.order_id not in cancelled and o.order_id not in converted)
        # whatever the policy sends or makes marketable, plus what stays working, fits in the position
        assert committed == 0 or committed + still_working <= abs(quantity)
