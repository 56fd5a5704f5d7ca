"""The dividend schedule: the shipped estimates, the user's file, single-entry overrides, and the calendar's answer."""

from datetime import date

import pytest

from config import ConfigError, load_settings
from gateways.calendar import MarketCalendar


def settings(**flags):
    return load_settings(flags=flags, environ={}).settings


def test_the_shipped_file_holds_spys_quarterly_ex_dates_for_2026_and_2027_each_a_session():
    schedule = settings().dividend_schedule
    spy = [d for d in schedule.dividends if d.symbol == "SPY"]
    assert {d.ex_date.year for d in spy} == {2026, 2027} and len(spy) == 8
    calendar = MarketCalendar()
    assert all(calendar.is_session(d.ex_date) and 1.0 < d.amount < 3.0 for d in spy)


def test_the_calendar_says_which_session_is_the_last_before_an_ex_date():
    calendar = MarketCalendar(dividends=settings(dividends="SPY 2026-12-18 2.10").dividend_schedule)
    eve = calendar.session(date(2026, 12, 17))
    assert eve is not None and eve.ex_dividend("spy") is not None and eve.ex_dividend("SPY").amount == 2.10
    assert calendar.session(date(2026, 12, 18)).ex_dividends == ()
    assert calendar.session(date(2026, 12, 16)).ex_dividends == ()


def test_an_ex_date_entered_on_a_weekend_counts_for_the_friday_before():
    calendar = MarketCalendar(dividends=settings(dividends="SPY 2026-12-19 2.0").dividend_schedule)
    assert calendar.session(date(2026, 12, 18)).ex_dividend("SPY") is not None


def test_the_users_file_replaces_the_shipped_one_and_entries_go_over_it(tmp_path):
    own = tmp_path / "dividends.toml"
    own.write_text("[QQQ]\n2026-12-21 = 0.75\n")
    schedule = settings(dividends_file=str(own), dividends="QQQ 2026-12-21 0.80, SPY 2027-03-19 2.00").dividend_schedule
    assert [(d.symbol, d.ex_date, d.amount) for d in schedule.dividends] == [
        ("QQQ", date(2026, 12, 21), 0.80), ("SPY", date(2027, 3, 19), 2.0)]


@pytest.mark.parametrize(("text", "says"), [
    ("[SPY]\n2026-12-18 = -2.05\n", "the amount -2.05 must be dollars per share in (0, 100]"),
    ("[SPY]\n2026-12-32 = 2.05\n", "'2026-12-32' is not a date YYYY-MM-DD"),
    ("SPY = 2.05\n", "one [SYMBOL] table per underlying"),
    ("[SPY\n", "is not valid TOML"),
])
def test_a_bad_file_stops_the_settings_in_one_line_naming_the_file_and_the_line(tmp_path, text, says):
    bad = tmp_path / "dividends.toml"
    bad.write_text(text)
    with pytest.raises(ConfigError) as raised:
        settings(dividends_file=str(bad))
    assert raised.value.key == "dividends_file" and says in str(raised.value) and str(bad) in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("entry", ["SPY 2026-12-18", "SPY 18/12/2026 2.0", "SPY 2026-12-18 lots", "SPY 2026-12-18 0"])
def test_a_bad_entry_is_one_line_naming_it(entry):
    with pytest.raises(ConfigError) as raised:
        settings(dividends=entry)
    assert raised.value.key == "dividends" and repr(entry) in str(raised.value)


def test_a_missing_file_says_so():
    with pytest.raises(ConfigError, match="cannot read /nonexistent/dividends.toml"):
        settings(dividends_file="/nonexistent/dividends.toml")
