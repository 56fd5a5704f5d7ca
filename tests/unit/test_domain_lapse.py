"""Which longs are lapsed after the close, and until when."""

from datetime import date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.lapse import lapse_cutoff, lapses_due
from domain.model import Position
from domain.session import EASTERN, ExpirySession
from tests.support.domain_builders import CLOSE, SESSION, contract

ITM_CALL = contract(638, "C")  # SPY 641 at the close: $3 in the money
OTM_CALL = contract(645, "C")
ITM_SHORT_PUT = contract(645, "P")
AFTER = CLOSE + timedelta(seconds=30)
PRICES = {"SPY": 641.0}


def test_a_long_in_the_money_at_the_close_is_lapsed_whole_and_nothing_else():
    held = [Position(ITM_CALL, 3), Position(OTM_CALL, 2), Position(ITM_SHORT_PUT, -1),
            Position(contract(638, "C", expiry=date(2026, 11, 27)), 4), Position(contract(5800, "C", symbol="SPXW"), 1)]
    plan = lapses_due(held, {**PRICES, "SPXW": 5900.0}, SESSION, AFTER, {})
    assert [(lapse.contract, lapse.quantity) for lapse in plan.due] == [(ITM_CALL, 3)] and not plan.too_late
    assert "641.00" in plan.due[0].reason and "+0.47%" in plan.due[0].reason


def test_cents_in_the_money_are_exercised_by_exception_so_they_are_lapsed():
    assert lapses_due([Position(ITM_CALL, 1)], {"SPY": 638.02}, SESSION, AFTER, {}).due
    assert not lapses_due([Position(ITM_CALL, 1)], {"SPY": 638.005}, SESSION, AFTER, {}).due


def test_what_was_lapsed_already_is_not_sent_again():
    assert not lapses_due([Position(ITM_CALL, 3)], PRICES, SESSION, AFTER, {ITM_CALL: 3}).due
    (rest,) = lapses_due([Position(ITM_CALL, 3)], PRICES, SESSION, AFTER, {ITM_CALL: 1}).due
    assert rest.quantity == 2


def test_from_half_past_the_close_it_is_too_late():
    at_cutoff = datetime(2026, 11, 25, 16, 30, tzinfo=EASTERN)
    assert lapse_cutoff(SESSION) == at_cutoff
    plan = lapses_due([Position(ITM_CALL, 3)], PRICES, SESSION, at_cutoff, {})
    assert not plan.due and [lapse.contract for lapse in plan.too_late] == [ITM_CALL]
    assert lapses_due([Position(ITM_CALL, 3)], PRICES, SESSION, at_cutoff - timedelta(seconds=1), {}).due


def test_on_an_early_close_the_cutoff_is_half_an_hour_after_it():
    early = ExpirySession(date(2026, 11, 27), datetime(2026, 11, 27, 13, 0, tzinfo=EASTERN), CLOSE)
    assert lapse_cutoff(early) == datetime(2026, 11, 27, 13, 30, tzinfo=EASTERN)


def test_no_price_no_lapse():
    assert not lapses_due([Position(ITM_CALL, 3)], {}, SESSION, AFTER, {}).due


@given(quantity=st.integers(-10, 10), strike=st.integers(600, 680), right=st.sampled_from("CP"),
       spot=st.floats(600, 680), already=st.integers(0, 10))
def test_never_a_short_never_more_than_held(quantity, strike, right, spot, already):
    option = contract(strike, right)
    plan = lapses_due([Position(option, quantity)], {"SPY": spot}, SESSION, AFTER, {option: already})
    for lapse in plan.due:
        assert quantity > 0 and 0 < lapse.quantity <= quantity - already


def test_a_long_leg_whose_short_partner_closed_in_the_money_is_exercised_not_lapsed():
    spread = [Position(ITM_CALL, 3), Position(contract(640, "C"), -2)]  # both in the money at 641
    plan = lapses_due(spread, PRICES, SESSION, AFTER, {})
    assert [(lapse.contract, lapse.quantity) for lapse in plan.due] == [(ITM_CALL, 1)]  # 2 deliver the assigned shares
    out_of_the_money_short = [Position(ITM_CALL, 3), Position(OTM_CALL, -2)]
    assert [lapse.quantity for lapse in lapses_due(out_of_the_money_short, PRICES, SESSION, AFTER, {}).due] == [3]
