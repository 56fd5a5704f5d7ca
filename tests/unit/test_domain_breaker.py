"""The circuit breaker's rule: failures across contracts halt order flow; one failing contract does not."""

from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.breaker import BreakerState, record_failure, record_order
from domain.session import EASTERN

T0 = datetime(2026, 11, 25, 15, 55, tzinfo=EASTERN)


def failures(sources: list[str], seconds_apart: float = 1.0, state: BreakerState | None = None) -> BreakerState:
    state = state or BreakerState()
    for index, source in enumerate(sources):
        state = record_failure(state, T0 + timedelta(seconds=index * seconds_apart), source, 5, 60)
    return state


def test_more_than_five_failures_across_contracts_within_the_window_trip_it():
    assert not failures(["A", "B", "A", "B", "A"]).tripped
    tripped = failures(["A", "B", "A", "B", "A", "B"])
    assert tripped.tripped and "across 2 contracts" in tripped.reason


def test_one_contract_failing_over_and_over_never_trips_it():
    # that contract is given up by the Executor instead; the others must still close at T-2
    assert not failures(["A"] * 20).tripped


def test_failures_older_than_the_window_do_not_count():
    assert not failures(["A", "B", "A", "B", "A", "B"], seconds_apart=15).tripped


def test_once_tripped_it_stays_tripped_until_reset():
    tripped = failures(["A", "B", "A", "B", "A", "B"])
    later = record_failure(tripped, T0 + timedelta(hours=1), "A", 5, 60)
    assert later.tripped and BreakerState().tripped is False  # reset is a new state (ResetBreaker, ctl resume)


def sent(count: int, state: BreakerState | None = None) -> BreakerState:
    state = state or BreakerState()
    for index in range(count):
        state = record_order(state, T0 - timedelta(seconds=30) + timedelta(milliseconds=index * 20), 60)
    return state


def test_a_big_days_ordinary_rejects_do_not_trip_it_when_a_ratio_is_set():
    # 500 closes in the last minute, ten refused across contracts (2 %): the seed's count alone would trip
    busy = sent(500)
    ten = [f"C{i}" for i in range(10)]
    assert failures(ten, state=busy).tripped  # ratio 0: the seed's rule
    state = busy
    for index, source in enumerate(ten):
        state = record_failure(state, T0 + timedelta(seconds=index), source, 5, 60, min_failure_ratio=0.1)
    assert not state.tripped


def test_failures_that_are_a_large_share_of_what_was_sent_trip_it_with_the_ratio_too():
    state = sent(20)
    for index, source in enumerate(["A", "B"] * 3):  # 6 of 20 sent: 30 %
        state = record_failure(state, T0 + timedelta(seconds=index), source, 5, 60, min_failure_ratio=0.1)
    assert state.tripped and "30% of the 20 orders sent" in state.reason


def test_orders_sent_before_the_window_are_forgotten():
    state = sent(500)
    later = T0 + timedelta(seconds=120)  # all 500 now older than 60 s
    for index, source in enumerate(["A", "B"] * 3):
        state = record_failure(state, later + timedelta(seconds=index), source, 5, 60, min_failure_ratio=0.1)
    assert state.tripped and len(state.sent) == 0


@given(count=st.integers(min_value=0, max_value=200), failed=st.integers(min_value=0, max_value=30),
       ratio=st.floats(min_value=0, max_value=1))
def test_it_trips_exactly_when_count_contracts_and_ratio_all_say_so(count, failed, ratio):
    state = sent(count)
    for index in range(failed):
        state = record_failure(state, T0 + timedelta(milliseconds=index), "AB"[index % 2], 5, 60, ratio)
    share = failed / count if count else 1.0  # grows with every failure: the last is the largest
    assert state.tripped == (failed > 5 and share >= ratio)
