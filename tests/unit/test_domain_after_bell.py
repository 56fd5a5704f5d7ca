"""The after-bell watch (domain.after_bell): the first report, crossing updates once per crossing, the final one."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.after_bell import (
    Outlook,
    ReportKind,
    WatchInput,
    WatchState,
    final_look_at,
    look,
    outlook,
)
from domain.after_bell_alerts import watch_alert
from domain.alerts import Severity
from domain.model import Position
from tests.support.domain_builders import CLOSE, DAY, SESSION, contract, spot_quote

BAND = 0.005
SPOT = 642.50
SHORT_PUT = Position(contract(640, "P"), -3)  # 0.39 % out of the money at the close


def watch(positions, after: float | None, minutes_after_close: float, closing=SPOT) -> WatchInput:
    now = CLOSE + timedelta(minutes=minutes_after_close)
    quotes = {} if after is None else {"SPY": spot_quote(after, now)}
    return WatchInput(positions, {"SPY": closing}, quotes, BAND, now, SESSION)


def run(prices, positions=(SHORT_PUT,), start_minutes=0.5, step_minutes=1.0):
    """The reports of a look at each price in turn, a minute apart from ``start_minutes`` after the close."""
    state, reports = WatchState(), []
    for i, price in enumerate(prices):
        state, new = look(state, watch(list(positions), price, start_minutes + i * step_minutes))
        reports += new
    return state, reports


def test_the_outlook_says_exercise_assignment_or_pin_risk_on_the_close_and_after_hours() -> None:
    assert outlook(Position(contract(642), 1), SPOT, None, BAND) is Outlook.EXERCISE_LIKELY
    assert outlook(Position(contract(642.495), 1), SPOT, None, BAND) is Outlook.EXPIRES  # under a cent in
    assert outlook(Position(contract(643), 1), SPOT, 650, BAND) is Outlook.EXPIRES  # a long: the close decides
    assert outlook(Position(contract(643, "P"), -1), SPOT, None, BAND) is Outlook.ASSIGNMENT_LIKELY
    assert outlook(SHORT_PUT, SPOT, None, BAND) is Outlook.ASSIGNMENT_POSSIBLE  # 0.39 % out
    assert outlook(SHORT_PUT, SPOT, 639.50, BAND) is Outlook.ASSIGNMENT_LIKELY  # in after hours
    assert outlook(SHORT_PUT, SPOT, 639.50, BAND, final=True) is Outlook.EXPECT_ASSIGNMENT
    assert outlook(SHORT_PUT, SPOT, 641.0, BAND, final=True) is Outlook.EXPIRES  # no move left to put it in
    assert outlook(Position(contract(630, "P"), -1), SPOT, None, BAND) is Outlook.EXPIRES
    assert outlook(Position(contract(642, "P"), -1), None, None, BAND) is Outlook.NO_PRICE
    assert outlook(Position(contract(5800, symbol="SPXW"), -1), None, None, BAND) is Outlook.CASH_SETTLED
    assert [o for o in Outlook if not o.at_risk] == [Outlook.EXPIRES, Outlook.CASH_SETTLED]


def test_the_first_report_lists_every_open_position_with_the_after_hours_price_and_net_delivery() -> None:
    held = [Position(contract(645, "P"), 2), Position(contract(640, "P"), -2),  # a put spread, short leg 0.39 % out
            Position(contract(638), 1), Position(contract(5800, symbol="SPXW"), -1)]
    state, (first,) = look(WatchState(), watch(held, 642.10, 0.5))
    assert first.kind is ReportKind.FIRST and state.first_sent and not state.final_sent
    assert [(line.contract.key, line.outlook) for line in first.lines] == [
        ("SPXW 20261125 5800C", Outlook.CASH_SETTLED), ("SPY 20261125 638C", Outlook.EXERCISE_LIKELY),
        ("SPY 20261125 640P", Outlook.ASSIGNMENT_POSSIBLE), ("SPY 20261125 645P", Outlook.EXERCISE_LIKELY)]
    (spread,) = first.structures
    assert spread.name.startswith("vertical SPY") and spread.shares == -200  # the long 645P delivers, the 640P not
    assert first.delivery == {"SPY": -100}
    alert = watch_alert(DAY, first)
    assert alert.severity is Severity.CRITICAL and alert.key == "open-at-bell:2026-11-25"
    assert ("- SPY 20261125 640P qty -2 (short): SPY 642.50 at the close, moneyness -0.39%, after hours 642.10 at "
            "16:00:30 ET: assignment possible on an after-hours move") in alert.body.splitlines()
    assert "- SPXW 20261125 5800C qty -1 (short): settles in cash, not watched" in alert.body.splitlines()
    assert "delivers -200 shares net" in alert.body and "SPY -100 shares" in alert.body


def test_a_short_crossing_into_the_money_is_one_critical_update_not_one_a_tick() -> None:
    _, reports = run([642.0, 641.0, 639.90, 639.80, 639.85, 639.70])
    first, update = reports
    assert first.kind is ReportKind.FIRST and update.kind is ReportKind.CROSSING and update.number == 1
    (crossing,) = update.crossings
    assert crossing.into_the_money and crossing.price == 639.90
    assert update.lines[0].outlook is Outlook.ASSIGNMENT_LIKELY and update.delivery == {"SPY": 300}
    alert = watch_alert(DAY, update)
    assert alert.severity is Severity.CRITICAL and "640P into the money (SPY 639.90)" in alert.body
    assert alert.key == "after-bell-crossing:2026-11-25:1"


def test_a_price_jittering_at_the_strike_is_one_crossing_the_hysteresis_counts_the_way_back() -> None:
    # in at 639.98, then a cent or two either side: inside a tenth of the band (0.05 % = 0.32) it stays "in"
    _, reports = run([640.50, 639.98, 640.01, 639.99, 640.20, 640.10, 640.40, 639.50])
    updates = [r for r in reports if r.kind is ReportKind.CROSSING]
    assert [(u.crossings[0].into_the_money, u.crossings[0].price, u.number) for u in updates] == [
        (True, 639.98, 1), (False, 640.40, 2), (True, 639.50, 3)]
    back = watch_alert(DAY, updates[1])
    assert back.severity is Severity.WARNING and back.key.endswith(":2") and "back out of the money" in back.body


def test_a_long_strike_crossed_after_hours_is_no_update() -> None:
    _, reports = run([641.0, 645.0, 641.0], positions=[Position(contract(643), 1)])
    assert [r.kind for r in reports] == [ReportKind.FIRST]


def test_the_final_report_flags_shorts_in_the_money_and_the_shares_expected() -> None:
    held = [SHORT_PUT, Position(contract(650), -1), Position(contract(645, "P"), 1)]
    state = WatchState()
    state, _ = look(state, watch(held, 641.0, 0.5))
    at_final = (final_look_at(SESSION) - CLOSE).total_seconds() / 60
    state, (final,) = look(state, watch(held, 639.0, at_final))
    assert final.kind is ReportKind.FINAL and state.final_sent
    assert [line.contract.key for line in final.expect_assignment] == ["SPY 20261125 640P"]
    assert {line.contract.key: line.outlook for line in final.lines}["SPY 20261125 650C"] is Outlook.EXPIRES
    # the long 645P closed in the money and is exercised (-100); the short 640P is assigned on the after-hours price
    assert final.delivery == {"SPY": 200}
    alert = watch_alert(DAY, final)
    assert alert.severity is Severity.CRITICAL and alert.title == "17:30 ET: expect assignment of 1 short position(s)"
    assert "640P qty -3 (short)" in alert.body and "EXPECT ASSIGNMENT" in alert.body
    assert look(state, watch(held, 630.0, at_final + 0.5)) == (state, ())  # nothing after the final report


def test_a_quiet_final_report_when_nothing_is_in_the_money() -> None:
    state, _ = look(WatchState(), watch([SHORT_PUT], 642.0, 0.5))
    _, (final,) = look(state, watch([SHORT_PUT], 645.0, 89))
    alert = watch_alert(DAY, final)
    assert not final.expect_assignment and alert.severity is Severity.INFO
    assert alert.title == "17:30 ET: no assignment expected"


def test_no_positions_no_reports_and_no_after_hours_price_yet_is_said() -> None:
    assert look(WatchState(), watch([], 641.0, 0.5))[1] == ()
    _, (first,) = look(WatchState(), watch([SHORT_PUT], None, 0.5))
    assert "no after-hours price yet" in watch_alert(DAY, first).body


def test_a_restart_from_the_kept_state_neither_repeats_nor_loses_a_report() -> None:
    prices = [641.0, 639.5, 639.4, 640.8, 639.0]
    _, straight = run(prices)
    state, before = run(prices[:2])
    kept = state
    for i, price in enumerate(prices[2:], start=2):
        kept, new = look(kept, watch([SHORT_PUT], price, 0.5 + i))
        before += new
    assert [(r.kind, r.number) for r in before] == [(r.kind, r.number) for r in straight]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=630, max_value=650, allow_nan=False), min_size=1, max_size=40))
def test_updates_alternate_in_and_out_and_never_outnumber_real_crossings(prices) -> None:
    _, reports = run(prices)
    updates = [r for r in reports if r.kind is ReportKind.CROSSING]
    assert reports[0].kind is ReportKind.FIRST and len([r for r in reports if r.kind is ReportKind.FIRST]) == 1
    ways = [u.crossings[0].into_the_money for u in updates]
    assert all(a != b for a, b in zip(ways, ways[1:], strict=False))  # in, out, in...: never twice the same way
    sides = [640 - p >= 0.01 for p in prices]  # in the money as OCC counts it
    assert len(updates) <= sum(a != b for a, b in zip(sides, sides[1:], strict=False))
    assert [u.number for u in updates] == list(range(1, len(updates) + 1))


def test_with_updates_off_crossings_are_followed_silently_and_the_final_report_still_goes() -> None:
    state = WatchState()
    kinds = []
    for i, price in enumerate([642.0, 639.0, 641.0, 639.0]):
        state, new = look(state, replace(watch([SHORT_PUT], price, 0.5 + i), updates=False))
        kinds += [r.kind for r in new]
    assert kinds == [ReportKind.FIRST] and state.in_the_money == {"SPY 20261125 640P": True}
    _, (final,) = look(state, replace(watch([SHORT_PUT], 639.0, 89), updates=False))
    assert final.kind is ReportKind.FINAL and final.expect_assignment
