"""Whether the exchange's regular session is open at an instant: staleness only applies then.

The service runs 09:00-17:30 ET; before the open and after the close a quiet SPY quote is normal,
not a dead feed. The close comes from the exchange calendar (early closes included); XNYS opens at
09:30 ET on every session (exchange_calendars lists no late opens for it).
"""

from __future__ import annotations

from datetime import date, datetime, time

from domain.session import EASTERN, ExpirySession
from gateways.calendar import MarketCalendar

REGULAR_OPEN_ET = time(9, 30)


class RegularHours:
    """``hours(now)``: True during the regular session. Caches the day's session (called every poll)."""

    def __init__(self, calendar: MarketCalendar) -> None:
        self._calendar = calendar
        self._day: date | None = None
        self._session: ExpirySession | None = None

    def __call__(self, now: datetime) -> bool:
        day = now.astimezone(EASTERN).date()
        if day != self._day:
            self._day, self._session = day, self._calendar.session(day)
        if self._session is None:  # weekend or holiday
            return False
        return datetime.combine(day, REGULAR_OPEN_ET, tzinfo=EASTERN) <= now < self._session.close
