"""The circuit breaker's rule: failures across contracts halt order flow; one failing contract does not."""

from datetime import datetime, timedelta

from domain.breaker import BreakerState, record_failure
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
