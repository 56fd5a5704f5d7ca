"""Regular hours from the exchange calendar: when a quiet quote may be called stale."""

from __future__ import annotations

from datetime import datetime

import pytest

from domain.session import EASTERN
from gateways.calendar import MarketCalendar
from gateways.market_hours import RegularHours


@pytest.fixture(scope="module")
def hours() -> RegularHours:
    return RegularHours(MarketCalendar())


@pytest.mark.parametrize(("when", "open_"), [
    (datetime(2026, 11, 25, 9, 29, 59), False),  # the service starts at 09:00: pre-market is quiet
    (datetime(2026, 11, 25, 9, 30), True),
    (datetime(2026, 11, 25, 15, 59, 59), True),
    (datetime(2026, 11, 25, 16, 0), False),
    (datetime(2026, 11, 25, 17, 29), False),  # after hours, up to the exercise cut-off
    (datetime(2026, 11, 26, 12, 0), False),  # Thanksgiving: no session
    (datetime(2026, 11, 27, 12, 59), True),
    (datetime(2026, 11, 27, 13, 0), False),  # early close
    (datetime(2026, 11, 28, 12, 0), False),  # Saturday
])
def test_regular_hours(hours, when, open_):
    assert hours(when.replace(tzinfo=EASTERN)) is open_
