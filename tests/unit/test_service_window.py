"""service_plan: run on a session day until the exercise cut-off, idle-exit otherwise (real XNYS calendar)."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from domain.session import EASTERN
from gateways.calendar import MarketCalendar
from runtime.service_window import SERVICE_START_ET, Action, service_plan

HKT = ZoneInfo("Asia/Hong_Kong")
TIMER = Path(__file__).resolve().parents[2] / "deploy" / "cleanup-manager.timer"


@pytest.fixture(scope="module")
def calendar():
    return MarketCalendar()


def et(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=EASTERN)


def test_regular_session_runs_until_the_exercise_cutoff(calendar):
    plan = service_plan(et(date(2026, 11, 25), 9, 0), calendar)
    assert plan.action is Action.RUN
    assert plan.until == et(date(2026, 11, 25), 17, 30)
    assert plan.session.day == date(2026, 11, 25)
    assert "close 16:00 ET" in plan.reason and "17:30 ET" in plan.reason


def test_thanksgiving_holiday_idles_until_the_next_session(calendar):
    plan = service_plan(et(date(2026, 11, 26), 9, 0), calendar)
    assert plan.action is Action.IDLE_EXIT
    assert plan.session.day == date(2026, 11, 27)
    assert plan.until == et(date(2026, 11, 27), 4, 0)
    assert "holiday" in plan.reason


def test_early_close_still_runs_until_the_exercise_cutoff(calendar):
    # Holders may exercise until 17:30 ET even when trading ended at 13:00: pin risk lasts that long.
    plan = service_plan(et(date(2026, 11, 27), 9, 0), calendar)
    assert plan.action is Action.RUN
    assert plan.until == et(date(2026, 11, 27), 17, 30)
    assert plan.session.early_close
    assert "early close 13:00 ET" in plan.reason
    # Started late (after a crash and Restart=on-failure, or Persistent=true catch-up): still runs.
    assert service_plan(et(date(2026, 11, 27), 15, 0), calendar).action is Action.RUN


@pytest.mark.parametrize("day", [date(2026, 11, 28), date(2026, 11, 29)])
def test_weekend_idles_until_monday(calendar, day):
    plan = service_plan(et(day, 9, 0), calendar)
    assert plan.action is Action.IDLE_EXIT
    assert plan.until == et(date(2026, 11, 30), 4, 0)
    assert day.strftime("%A") in plan.reason


def test_after_the_cutoff_idles_until_the_next_session(calendar):
    assert service_plan(et(date(2026, 11, 25), 17, 29), calendar).action is Action.RUN
    plan = service_plan(et(date(2026, 11, 25), 17, 30), calendar)
    assert plan.action is Action.IDLE_EXIT
    assert plan.until == et(date(2026, 11, 27), 4, 0)  # skips Thanksgiving
    assert "ended" in plan.reason


def test_the_day_is_the_new_york_day_not_the_traders(calendar):
    # 05:00 HKT Thursday 2026-11-26 is 16:00 ET Wednesday: Wednesday's session, still before its cut-off.
    plan = service_plan(datetime(2026, 11, 26, 5, 0, tzinfo=HKT), calendar)
    assert plan.action is Action.RUN
    assert plan.session.day == date(2026, 11, 25)


def test_naive_instants_are_refused(calendar):
    with pytest.raises(ValueError):
        service_plan(datetime(2026, 11, 25, 9, 0), calendar)


def test_timer_starts_the_service_at_the_planned_time():
    match = re.search(r"^OnCalendar=Mon\.\.Fri (\d\d):(\d\d) America/New_York$", TIMER.read_text(), re.M)
    assert match, "deploy/cleanup-manager.timer must start the service on weekdays in New York time"
    assert time(int(match[1]), int(match[2])) == SERVICE_START_ET


@pytest.mark.parametrize(("day", "previous"), [
    (date(2026, 11, 30), date(2026, 11, 27)),  # Monday: Friday's expiration (a weekend between)
    (date(2026, 11, 27), date(2026, 11, 25)),  # the day after Thanksgiving: Wednesday's
    (date(2026, 11, 25), date(2026, 11, 24)),
])
def test_the_morning_check_looks_at_the_calendars_previous_session(calendar, day, previous):
    plan = service_plan(et(day, 4, 0), calendar)
    assert plan.action is Action.RUN and plan.until == et(day, 17, 30)
    assert plan.previous is not None and plan.previous.day == previous
