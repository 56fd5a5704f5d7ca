"""Early assignment for the dividend: the rule (domain.ex_dividend) and the policy's decisions on it."""

from dataclasses import replace
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from domain.closing_rules import ClosingRules
from domain.ex_dividend import Dividend, DividendSchedule, early_assignment_risk, time_value
from domain.mode import Mode
from domain.model import Right, Side
from domain.policy import Close, ConvertStop, Warn, determine_actions
from domain.session import ExpirySession
from domain.stages import Stage
from tests.support.domain_builders import CLOSE, DAY, contract, inputs, option_quote, position, stop

EX_DATE = date(2026, 11, 27)  # the session after DAY (Thanksgiving between)
DIVIDEND = Dividend("SPY", EX_DATE, 1.90)
EVE = ExpirySession(DAY, CLOSE, CLOSE, ex_dividends=(DIVIDEND,))
LATER = date(2026, 12, 18)
DEEP_CALL = contract(600, "C", LATER)  # spot 640: 40.00 intrinsic
GUARD = ClosingRules(ex_dividend_guard=True)


def _on_eve(positions, minutes, mids, mode=Mode.ACTIVE, rules=GUARD, orders=(), session=EVE):
    base = inputs(positions, 640, minutes, mode=mode, orders=orders)
    quotes = {p.contract.key: option_quote(p.contract, mids[p.contract], base.now) for p in positions}
    return replace(base, session=session, option_quotes=quotes, rules=rules)


# --- the rule --------------------------------------------------------------------------------------

def test_a_deep_short_call_worth_less_than_the_dividend_above_intrinsic_is_at_risk():
    risk = early_assignment_risk(position(DEEP_CALL, -2), 640, 40.50, DIVIDEND)
    assert risk is not None and risk.time_value == 0.5 and risk.intrinsic == 40.0
    assert "2026-11-27" in risk.describe() and "0.50" in risk.describe()


def test_time_value_at_or_above_the_dividend_is_no_risk():
    assert early_assignment_risk(position(DEEP_CALL, -2), 640, 41.90, DIVIDEND) is None
    assert early_assignment_risk(position(DEEP_CALL, -2), 640, 43.00, DIVIDEND) is None


def test_longs_puts_out_of_the_money_calls_other_symbols_and_index_options_are_never_at_risk():
    assert early_assignment_risk(position(DEEP_CALL, 2), 640, 40.1, DIVIDEND) is None  # a long is the holder
    assert early_assignment_risk(position(contract(680, "P", LATER), -1), 640, 40.1, DIVIDEND) is None
    assert early_assignment_risk(position(contract(645, "C", LATER), -1), 640, 0.2, DIVIDEND) is None
    assert early_assignment_risk(position(contract(600, "C", LATER, "QQQ"), -1), 640, 40.1, DIVIDEND) is None
    spx = contract(600, "C", LATER, "SPX")
    assert early_assignment_risk(position(spx, -1), 640, 40.1, Dividend("SPX", EX_DATE, 1.9)) is None


def test_a_call_expiring_before_the_ex_date_or_without_a_price_is_left_to_the_other_rules():
    assert early_assignment_risk(position(contract(600, "C", DAY), -1), 640, 40.1, DIVIDEND) is None
    assert early_assignment_risk(position(contract(600, "C", EX_DATE), -1), 640, 40.1, DIVIDEND) is not None
    assert early_assignment_risk(position(DEEP_CALL, -1), 640, None, DIVIDEND) is None


@given(strike=st.floats(100, 1000), spot=st.floats(100, 1000), extra=st.floats(-5, 20),
       amount=st.floats(0.01, 10), quantity=st.integers(-50, 50).filter(bool), right=st.sampled_from(list(Right)))
def test_at_risk_exactly_when_short_call_in_the_money_and_time_value_below_the_dividend(
        strike, spot, extra, amount, quantity, right):
    c = contract(strike, right.value, LATER)
    mid = max(spot - strike, 0.0) + extra if right is Right.CALL else max(strike - spot, 0.0) + extra
    risk = early_assignment_risk(position(c, quantity), spot, mid, Dividend("SPY", EX_DATE, amount))
    expected = quantity < 0 and right is Right.CALL and spot > strike and time_value(right, strike, spot, mid) < amount
    assert (risk is not None) == expected
    if risk is not None:
        assert risk.time_value < amount and risk.intrinsic > 0


@given(extra=st.floats(-1, 5), low=st.floats(0.01, 5), more=st.floats(0, 5))
def test_a_larger_dividend_never_removes_a_risk(extra, low, more):
    held = position(DEEP_CALL, -1)
    if early_assignment_risk(held, 640, 40 + extra, Dividend("SPY", EX_DATE, low)) is not None:
        assert early_assignment_risk(held, 640, 40 + extra, Dividend("SPY", EX_DATE, low + more)) is not None


def test_the_schedule_knows_which_dividends_go_ex_on_the_next_session():
    schedule = DividendSchedule.of([Dividend("spy", date(2026, 12, 18), 2.0), Dividend("SPY", date(2026, 12, 18), 2.1),
                                    Dividend("SPY", date(2027, 3, 19), 1.9)])
    assert schedule.going_ex(date(2026, 12, 17), date(2026, 12, 18)) == (Dividend("SPY", date(2026, 12, 18), 2.1),)
    assert schedule.going_ex(date(2026, 12, 18), date(2026, 12, 21)) == ()
    assert schedule.merged([Dividend("SPY", date(2027, 3, 19), 2.5)]).going_ex(
        date(2027, 3, 18), date(2027, 3, 19))[0].amount == 2.5


# --- the policy ------------------------------------------------------------------------------------

def test_warned_at_t30_closed_from_t5_as_an_expiring_short_in_the_money():
    held = [position(DEEP_CALL, -2)]
    warned = determine_actions(_on_eve(held, 20, {DEEP_CALL: 40.5}))
    (warn,) = warned.decisions
    assert isinstance(warn, Warn) and warn.ex_dividend is not None and warn.stage is Stage.T30
    assert "ex-dividend" in warn.reason and not warn.would_trade
    assert determine_actions(_on_eve(held, 45, {DEEP_CALL: 40.5})).decisions == ()  # nothing before T-30
    (close,) = determine_actions(_on_eve(held, 4, {DEEP_CALL: 40.5})).decisions
    assert isinstance(close, Close) and close.side is Side.BUY and close.quantity == 2 and close.stage is Stage.T5
    assert close.reference_mid == 40.5 and "ex-dividend" in close.reason


def test_time_value_above_the_dividend_and_a_session_before_no_ex_date_are_left_alone():
    held = [position(DEEP_CALL, -2)]
    assert determine_actions(_on_eve(held, 4, {DEEP_CALL: 43.0})).decisions == ()
    assert determine_actions(_on_eve(held, 4, {DEEP_CALL: 40.5}, session=replace(EVE, ex_dividends=()))).decisions == ()


def test_monitor_mode_and_the_guard_off_only_warn():
    held = [position(DEEP_CALL, -2)]
    (monitor,) = determine_actions(_on_eve(held, 4, {DEEP_CALL: 40.5}, mode=Mode.MONITOR)).decisions
    assert isinstance(monitor, Warn) and monitor.would_trade and monitor.reason.startswith("would close 2")
    (off,) = determine_actions(_on_eve(held, 4, {DEEP_CALL: 40.5}, rules=ClosingRules())).decisions
    assert isinstance(off, Warn) and "ex_dividend_guard is off" in off.reason


def test_emergency_mode_closes_at_once_as_it_does_expiring_positions():
    (close,) = determine_actions(_on_eve([position(DEEP_CALL, -1)], 45, {DEEP_CALL: 40.5},
                                         mode=Mode.EMERGENCY)).decisions
    assert isinstance(close, Close) and close.reason.startswith("emergency mode: ex-dividend")


def test_the_traders_stop_on_it_becomes_a_market_order_as_on_an_expiring_short():
    held = [position(DEEP_CALL, -2)]
    decisions = determine_actions(_on_eve(held, 4, {DEEP_CALL: 40.5},
                                          orders=[stop(DEEP_CALL, Side.BUY, 2)])).decisions
    assert [type(d) for d in decisions] == [ConvertStop]


def test_later_expiries_without_the_risk_are_still_not_judged():
    far_put = contract(700, "P", LATER)
    result = determine_actions(_on_eve([position(far_put, -1)], 4, {far_put: 61.0}))
    assert result.decisions == () and result.assessments == ()


def test_without_a_fresh_option_quote_it_is_not_judged_but_named():
    held = [position(DEEP_CALL, -2), position(contract(700, "C", LATER), -1)]  # the 700C is out of the money
    base = _on_eve(held, 4, {DEEP_CALL: 40.5, held[1].contract: 0.1})
    result = determine_actions(replace(base, option_quotes={}))
    assert result.decisions == () and result.dividend_unjudged == (held[0],)
    assert determine_actions(base).dividend_unjudged == ()
