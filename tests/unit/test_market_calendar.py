from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from domain.session import EASTERN
from domain.stages import Stage, Thresholds
from gateways.calendar import MarketCalendar

HKT = ZoneInfo("Asia/Hong_Kong")


@pytest.fixture(scope="module")
def calendar():
    return MarketCalendar()


def test_thanksgiving_is_not_a_session(calendar):
    assert not calendar.is_session(date(2026, 11, 26))
    assert calendar.session(date(2026, 11, 26)) is None
    assert calendar.next_session(date(2026, 11, 26)).day == date(2026, 11, 27)


@pytest.mark.parametrize("day", [date(2026, 11, 27), date(2026, 12, 24)])
def test_early_closes_at_one_pm(calendar, day):
    session = calendar.session(day)
    assert session.early_close
    assert session.close.astimezone(EASTERN).time() == time(13, 0)


def test_dates_more_than_a_year_ahead_work(calendar):
    session = calendar.session(date(2028, 11, 24))  # day after Thanksgiving 2028
    assert session is not None and session.early_close


def test_close_in_hong_kong_moves_with_us_daylight_saving(calendar):
    november = calendar.session(date(2026, 11, 25)).close.astimezone(HKT)
    july = calendar.session(date(2026, 7, 15)).close.astimezone(HKT)
    assert (november.hour, november.day) == (5, 26)
    assert (july.hour, july.day) == (4, 16)


def test_stage_instants_and_classification(calendar):
    session = calendar.session(date(2026, 11, 27))
    instants = session.stage_instants(Thresholds())
    assert instants[Stage.T30].astimezone(EASTERN).time() == time(12, 30)
    assert instants[Stage.T2].astimezone(EASTERN).time() == time(12, 58)
    assert session.stage(datetime(2026, 11, 27, 12, 56, tzinfo=EASTERN), Thresholds()) is Stage.T5
    assert session.stage(datetime(2026, 11, 27, 13, 0, tzinfo=EASTERN), Thresholds()) is Stage.CLOSED


def test_session_for_now_moves_on_after_the_exercise_cutoff(calendar):
    evening = datetime(2026, 11, 25, 18, 0, tzinfo=EASTERN)
    assert calendar.session_for_now(evening).day == date(2026, 11, 27)
    afternoon = datetime(2026, 11, 25, 15, 0, tzinfo=EASTERN)
    assert calendar.session_for_now(afternoon).day == date(2026, 11, 25)
