"""The NYSE calendar (exchange_calendars, XNYS) as expiration sessions.

exchange_calendars only knows one year ahead unless the calendar is built with a later end, so the
calendar is rebuilt on demand to cover whatever date is asked for. Given the dividend schedule, each
session also says which dividends go ex on the next one (``ExpirySession.ex_dividends``).
"""

from __future__ import annotations

import threading
from datetime import date, datetime, time, timedelta

import exchange_calendars
import pandas as pd

from domain.ex_dividend import DividendSchedule
from domain.session import EASTERN, ExpirySession

REGULAR_CLOSE_ET = time(16, 0)
_MARGIN = timedelta(days=400)
_NEXT_SESSION_WITHIN = timedelta(days=14)  # the longest closures (weekend, holidays, 2001's four days) are shorter


class MarketCalendar:
    def __init__(self, exchange: str = "XNYS", dividends: DividendSchedule | None = None) -> None:
        self._exchange = exchange
        self._dividends = dividends or DividendSchedule()
        self._lock = threading.Lock()
        self._calendar: exchange_calendars.ExchangeCalendar | None = None
        self._start = date.max
        self._end = date.min

    def _covering(self, day: date) -> exchange_calendars.ExchangeCalendar:
        with self._lock:
            if self._calendar is None or not (self._start <= day <= self._end):
                self._start = min(self._start, day - timedelta(days=30))
                self._end = max(self._end, day + _MARGIN)
                self._calendar = exchange_calendars.get_calendar(
                    self._exchange, start=self._start.isoformat(), end=self._end.isoformat())
            return self._calendar

    def is_session(self, day: date) -> bool:
        return bool(self._covering(day).is_session(pd.Timestamp(day)))

    def session(self, day: date) -> ExpirySession | None:
        """The expiration session on ``day``, or None on a weekend or holiday."""
        calendar = self._covering(day)
        stamp = pd.Timestamp(day)
        if not calendar.is_session(stamp):
            return None
        close = calendar.session_close(stamp).to_pydatetime().astimezone(EASTERN)
        regular = datetime.combine(day, REGULAR_CLOSE_ET, tzinfo=EASTERN)
        following = self._covering(day + _NEXT_SESSION_WITHIN).date_to_session(
            pd.Timestamp(day + timedelta(days=1)), direction="next").date()
        return ExpirySession(day=day, close=close, regular_close=regular,
                             ex_dividends=self._dividends.going_ex(day, following))

    def next_session(self, day: date) -> ExpirySession:
        """The first session on or after ``day`` (SPY lists expirations for every session)."""
        calendar = self._covering(day)
        found = calendar.date_to_session(pd.Timestamp(day), direction="next").date()
        session = self.session(found)
        assert session is not None
        return session

    def previous_session(self, day: date) -> ExpirySession:
        """The last session before ``day``: Friday's for a Monday, the day before a holiday's for the day after it."""
        calendar = self._covering(day - timedelta(days=10))
        found = calendar.date_to_session(pd.Timestamp(day - timedelta(days=1)), direction="previous").date()
        session = self.session(found)
        assert session is not None
        return session

    def session_for_now(self, now: datetime) -> ExpirySession:
        """Today's session if it has not passed the exercise cut-off, else the next one."""
        today = now.astimezone(EASTERN).date()
        session = self.next_session(today)
        if now >= session.exercise_cutoff:
            session = self.next_session(today + timedelta(days=1))
        return session
