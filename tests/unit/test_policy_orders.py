"""The policy and the trader's orders on expiring contracts: opening orders cancelled at T-2 whatever
their type, every order type recognised, and orders IB will not let us touch left alone but counted."""

from __future__ import annotations

from dataclasses import replace

from domain.mode import Mode
from domain.model import OrderType, Side, WorkingOrder
from domain.order_refs import make_order_ref
from domain.policy import CancelOrder, Close, ConvertStop, Warn, determine_actions
from tests.support.domain_builders import DAY, contract, inputs, position, stop

SPY = 640.0
ITM_CALL = contract(635, "C")  # +0.79 %
FAR_CALL = contract(660, "C")  # -3.0 %: nothing would close it
FAR_PUT = contract(620, "P")


def order(c, side: Side, order_type: OrderType, quantity: int, order_id: str, **fields) -> WorkingOrder:
    return WorkingOrder(order_id, c, side, order_type, quantity, limit_price=fields.pop("limit_price", 2.0),
                        **fields)


def kinds(result) -> list[tuple[str, str]]:
    """(decision, order id or contract) of every decision but warnings."""
    return [(type(d).__name__, d.order.order_id if hasattr(d, "order") else d.contract.key)
            for d in result.decisions if not isinstance(d, Warn)]


def test_t2_cancels_the_traders_opening_orders_of_any_type():
    held = [position(ITM_CALL, 2)]
    orders = [order(FAR_PUT, Side.BUY, OrderType.LIMIT, 1, "no-position-limit"),
              order(FAR_CALL, Side.SELL, OrderType.OTHER, 1, "no-position-mit", broker_type="MIT"),
              stop(FAR_CALL, Side.BUY, 1, order_id="no-position-stop"),
              order(ITM_CALL, Side.BUY, OrderType.LIMIT, 1, "adds-to-the-long")]
    result = determine_actions(inputs(held, SPY, 1.5, orders=orders))
    cancelled = {d.order.order_id for d in result.decisions if isinstance(d, CancelOrder)}
    assert cancelled == {"no-position-limit", "no-position-mit", "no-position-stop", "adds-to-the-long"}
    assert [c.quantity for c in result.decisions if isinstance(c, Close)] == [2]


def test_opening_orders_stay_before_t2_in_active_mode_and_go_in_emergency_mode():
    orders = [order(FAR_PUT, Side.BUY, OrderType.LIMIT, 1, "opening")]
    assert kinds(determine_actions(inputs([position(ITM_CALL, 1)], SPY, 4, orders=orders))) == [
        ("Close", ITM_CALL.key)]
    emergency = determine_actions(inputs([position(ITM_CALL, 1)], SPY, 20, mode=Mode.EMERGENCY, orders=orders))
    assert ("CancelOrder", "opening") in kinds(emergency)


def test_monitor_mode_says_it_would_cancel_an_opening_order():
    orders = [order(FAR_PUT, Side.BUY, OrderType.LIMIT, 1, "opening")]
    result = determine_actions(inputs([], SPY, 1.5, mode=Mode.MONITOR, orders=orders))
    assert [(d.would_trade, d.reason) for d in result.decisions] == [
        (True, "would cancel order opening: order on an expiring contract would open a position")]


def test_opening_orders_of_other_days_and_of_ours_are_left_alone():
    next_week = contract(620, "P", expiry=DAY.replace(day=27))
    ours = order(FAR_PUT, Side.BUY, OrderType.LIMIT, 1, "ours", order_ref=make_order_ref(FAR_PUT, 1))
    result = determine_actions(inputs([], SPY, 1.5, orders=[ours, order(next_week, Side.BUY, OrderType.LIMIT, 1, "x")]))
    assert result.decisions == ()


def test_a_covering_order_of_another_type_is_cancelled_and_replaced_by_a_close_like_a_limit():
    mit = order(ITM_CALL, Side.SELL, OrderType.OTHER, 2, "mit", broker_type="MIT")
    assert kinds(determine_actions(inputs([position(ITM_CALL, 2)], SPY, 4, orders=[mit]))) == [("CancelOrder", "mit")]


def test_trailing_stops_are_stops_converted_to_market_at_t2():
    trail = order(FAR_CALL, Side.SELL, OrderType.TRAILING_STOP, 1, "trail", limit_price=None)
    trail_limit = order(FAR_PUT, Side.BUY, OrderType.TRAILING_STOP_LIMIT, 1, "trail-limit")
    held = [position(FAR_CALL, 1), position(FAR_PUT, -1)]
    result = determine_actions(inputs(held, SPY, 1.5, orders=[trail, trail_limit]))
    # the short's stop first: riskiest first (domain.priority)
    assert kinds(result) == [("ConvertStop", "trail-limit"), ("ConvertStop", "trail")]


def test_an_order_we_may_not_touch_is_never_converted_nor_cancelled_and_still_counts():
    tws_stop = replace(stop(ITM_CALL, Side.SELL, 2, order_id="tws"), modifiable=False, owner="TWS", client_id=0)
    opening = replace(order(FAR_PUT, Side.BUY, OrderType.LIMIT, 1, "other-client"), modifiable=False)
    for minutes in (4, 1.5):
        result = determine_actions(inputs([position(ITM_CALL, 3)], SPY, minutes, orders=[tws_stop, opening]))
        assert kinds(result) == [("Close", ITM_CALL.key)]
        (close,) = [d for d in result.decisions if isinstance(d, Close)]
        assert close.quantity == 1  # 3 held, 2 covered by the stop that may still fill
        assert [(u.order.order_id, u.position, u.covers) for u in result.untouchable] == [
            ("tws", 3, 2), ("other-client", 0, 0)]


def test_untouchable_orders_are_reported_from_t30_in_every_mode():
    tws_stop = replace(stop(ITM_CALL, Side.SELL, 5, order_id="tws"), modifiable=False)
    next_week = replace(stop(contract(635, "C", expiry=DAY.replace(day=27)), Side.SELL, 1, order_id="later"),
                        modifiable=False)
    for mode in Mode:
        result = determine_actions(inputs([position(ITM_CALL, 2)], SPY, 25, mode=mode, orders=[tws_stop, next_week]))
        assert [(u.order.order_id, u.covers) for u in result.untouchable] == [("tws", 2)]
    assert determine_actions(inputs([position(ITM_CALL, 2)], SPY, 45, orders=[tws_stop])).untouchable == ()


def test_a_stop_of_ours_still_working_counts_when_the_traders_stop_is_converted():
    # The case hypothesis found: only non-stop orders were subtracted, so at T-5 our stop was forgotten
    # and the trader's converted too: two marketable sells of 2 against a long 2.
    for c, minutes in ((ITM_CALL, 4), (FAR_CALL, 1.5)):
        ours = stop(c, Side.SELL, 2, order_id="ours", ref=make_order_ref(c, 1))
        traders = stop(c, Side.SELL, 2, order_id="traders")
        result = determine_actions(inputs([position(c, 2)], SPY, minutes, orders=[ours, traders]))
        assert kinds(result) == [("CancelOrder", "traders")]  # ours is the Executor's, and never converted
        assert not [d for d in result.decisions if isinstance(d, ConvertStop)]


def test_stops_are_converted_while_they_fit_and_the_rest_cancelled():
    stops = [stop(FAR_CALL, Side.SELL, 2, order_id="a"), stop(FAR_CALL, Side.SELL, 2, order_id="b"),
             stop(FAR_CALL, Side.SELL, 1, order_id="c")]
    result = determine_actions(inputs([position(FAR_CALL, 3)], SPY, 1.5, orders=stops))
    # the closing decisions first, the cancels after them (domain.policy.riskiest_first)
    assert kinds(result) == [("ConvertStop", "a"), ("ConvertStop", "c"), ("CancelOrder", "b")]
