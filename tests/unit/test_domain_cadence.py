"""The seed's polling schedule (domain/cadence.py), stage by stage, and when a poll is due."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.cadence import poll_due, poll_interval_seconds
from domain.session import EASTERN
from domain.stages import Stage

NOW = datetime(2026, 11, 25, 15, 40, tzinfo=EASTERN)


@pytest.mark.parametrize(("stage", "has_positions", "minutes"), [
    (Stage.NORMAL, False, 30),  # nothing held: every 30 minutes
    (Stage.NORMAL, True, 15),  # positions held: every 15 minutes
    (Stage.T30, False, 5), (Stage.T30, True, 5),  # from T-30: every 5 minutes
    (Stage.T5, True, 1), (Stage.T2, True, 1),  # from T-5 to the close: every minute
    (Stage.T5, False, 1), (Stage.T2, False, 1),
    (Stage.CLOSED, True, 15), (Stage.CLOSED, False, 30),  # after the bell: back to the day's pace
])
def test_the_seeds_schedule(stage, has_positions, minutes):
    assert poll_interval_seconds(stage, has_positions) == minutes * 60


def test_the_first_poll_is_due_at_once():
    assert poll_due(None, NOW, Stage.NORMAL, has_positions=False, fill_since_last_poll=False)


def test_a_fill_makes_a_poll_due_at_once_whatever_the_interval():
    assert poll_due(NOW, NOW + timedelta(seconds=1), Stage.NORMAL, has_positions=False, fill_since_last_poll=True)


def test_due_exactly_when_the_interval_has_passed_not_a_second_before():
    interval = timedelta(minutes=5)
    assert not poll_due(NOW, NOW + interval - timedelta(seconds=1), Stage.T30, True, False)
    assert poll_due(NOW, NOW + interval, Stage.T30, True, False)


@given(stage=st.sampled_from(list(Stage)), has_positions=st.booleans(),
       elapsed=st.floats(min_value=0, max_value=3 * 3600, allow_nan=False))
def test_without_a_fill_a_poll_is_due_iff_the_stages_interval_has_passed(stage, has_positions, elapsed):
    due = poll_due(NOW, NOW + timedelta(seconds=elapsed), stage, has_positions, fill_since_last_poll=False)
    assert due == (elapsed >= poll_interval_seconds(stage, has_positions))


@given(has_positions=st.booleans())
def test_the_pace_only_quickens_towards_the_close(has_positions):
    intervals = [poll_interval_seconds(s, has_positions) for s in (Stage.NORMAL, Stage.T30, Stage.T5, Stage.T2)]
    assert intervals == sorted(intervals, reverse=True)
