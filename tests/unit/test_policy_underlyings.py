"""The policy judges each position by its own underlying's price, leaves cash-settled index options
alone, and from T-5 closes on the last fresh price what it put clearly in the money."""

from __future__ import annotations

from domain.mode import Mode
from domain.model import OrderType, Side, WorkingOrder
from domain.policy import Close, StageAction, Warn, determine_actions
from tests.support.domain_builders import contract, inputs, position, stop

SPY = 640.0
IWM_PUT = contract(222, "P", symbol="IWM")  # IWM 220: +0.90 % in the money; on SPY's price far out
QQQ_CALL = contract(520, "C", symbol="QQQ")  # QQQ 510: -1.92 % out of the money; on SPY's price far in
SPY_CALL = contract(633, "C")  # +1.11 % on SPY 640: clearly in the money (beyond 2 x 0.5 %)
SPY_NEAR = contract(637, "C")  # +0.47 %: in the money, but not clearly
SPX_CALL = contract(5800, "C", symbol="SPXW")
OTHERS = {"IWM": (220.0, 0.0), "QQQ": (510.0, 0.0)}


def closes(result) -> list[Close]:
    return [d for d in result.decisions if isinstance(d, Close)]


def test_each_position_is_judged_by_its_own_underlyings_price():
    held = [position(IWM_PUT, -2), position(QQQ_CALL, 3)]
    result = determine_actions(inputs(held, SPY, 4, others=OTHERS))
    (close,) = closes(result)
    assert (close.contract, close.side, close.quantity) == (IWM_PUT, Side.BUY, 2)
    spots = {a.contract: (a.spot, a.action) for a in result.assessments}
    assert spots == {IWM_PUT: (220.0, StageAction.CLOSE), QQQ_CALL: (510.0, StageAction.NONE)}


def test_a_position_whose_underlying_has_no_fresh_price_is_not_judged_by_spys():
    held = [position(SPY_CALL, 1), position(QQQ_CALL, 1)]
    result = determine_actions(inputs(held, SPY, 20, others={"QQQ": (510.0, 30.0)}))
    assert [a.contract for a in result.assessments] == [SPY_CALL]
    assert [d.contract for d in result.decisions if isinstance(d, Warn)] == [SPY_CALL]
    assert [(u.symbol, u.closing, u.unjudged) for u in result.stale] == [("QQQ", (), (QQQ_CALL,))]
    never_quoted = determine_actions(inputs([position(IWM_PUT, -1)], SPY, 4))
    assert not never_quoted.assessments and not never_quoted.decisions
    assert [(u.symbol, u.last) for u in never_quoted.stale] == [("IWM", None)]


def test_cash_settled_index_options_are_never_judged_nor_traded_in_any_mode():
    held = [position(SPX_CALL, -1)]
    opening = WorkingOrder("o", SPX_CALL, Side.SELL, OrderType.LIMIT, 1, limit_price=30.0)
    for mode, minutes in ((Mode.ACTIVE, 4), (Mode.ACTIVE, 1), (Mode.EMERGENCY, 20)):
        result = determine_actions(inputs(held, SPY, minutes, mode=mode, orders=[opening],
                                          others={"SPXW": (5850.0, 0.0)}))
        assert result.unwatched == (position(SPX_CALL, -1),)
        assert result.assessments == () and result.decisions == () and result.stale == ()


# --- no fresh price left from T-5: the last fresh one, for what it put clearly in the money ---------

def test_from_t5_a_clearly_in_the_money_position_is_closed_on_the_last_fresh_price():
    # Frozen at 15:54:00 (T-6), now T-5: a minute old.
    result = determine_actions(inputs([position(SPY_CALL, 2), position(SPY_NEAR, 1)], SPY, 5, spot_age=60))
    (close,) = closes(result)
    assert (close.contract, close.quantity) == (SPY_CALL, 2)
    assert close.reason == ("T-5: clearly in the money (+1.11%) on the last fresh price 640.00, 15:54:00 ET, "
                            "stale for 60 s")
    assert close.assessment is not None and close.assessment.spot == SPY
    (spell,) = result.stale
    assert (spell.symbol, spell.closing, spell.unjudged) == ("SPY", (SPY_CALL,), (SPY_NEAR,))
    assert spell.last is not None and spell.last.mid == SPY


def test_near_or_out_of_the_money_on_an_old_price_nothing_is_done_even_at_t2():
    near_put = contract(642, "P")  # -0.31 %: a fresh price would close it at T-2
    result = determine_actions(inputs([position(SPY_NEAR, 1), position(near_put, -1)], SPY, 1, spot_age=120))
    assert result.decisions == ()
    assert result.stale[0].unjudged == (SPY_NEAR, near_put)


def test_before_t5_an_old_price_closes_nothing():
    result = determine_actions(inputs([position(SPY_CALL, 2)], SPY, 6, spot_age=60))
    assert not closes(result) and result.stale[0].unjudged == (SPY_CALL,)


def test_the_band_of_clearly_in_the_money_is_a_setting():
    held = [position(contract(636), 1)]  # +0.63 %: beyond one T-2 band, not two
    assert not closes(determine_actions(inputs(held, SPY, 4, spot_age=60)))
    assert closes(determine_actions(inputs(held, SPY, 4, spot_age=60, stale_itm_factor=1.0)))


def test_a_fresh_price_of_another_symbol_does_not_stand_in_for_a_stale_one():
    held = [position(IWM_PUT, -2)]
    result = determine_actions(inputs(held, SPY, 4, others={"IWM": (222.5, 90.0)}))  # -0.23 % on the old price
    assert result.decisions == () and result.stale[0].unjudged == (IWM_PUT,)


def test_the_last_fresh_price_closes_through_the_traders_stop_like_a_fresh_one():
    result = determine_actions(inputs([position(SPY_CALL, 2)], SPY, 4, spot_age=60,
                                      orders=[stop(SPY_CALL, Side.SELL, 2)]))
    assert [type(d).__name__ for d in result.decisions] == ["ConvertStop"]
    assert "on the last fresh price" in result.decisions[0].reason


def test_emergency_mode_closes_without_a_price_and_reports_no_stale_underlying():
    result = determine_actions(inputs([position(SPY_NEAR, 1)], SPY, 20, mode=Mode.EMERGENCY, spot_age=600))
    assert [c.contract for c in closes(result)] == [SPY_NEAR] and result.stale == ()
