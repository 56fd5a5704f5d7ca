"""The token bucket that keeps IB API bursts under 50 messages a second, driven by a hand-moved clock."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateways.ib.token_bucket import IB_MESSAGES_PER_SECOND_LIMIT, MessageCounter, TokenBucket


class ManualTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_full_bucket_gives_its_capacity_then_makes_the_caller_wait():
    clock = ManualTime()
    bucket = TokenBucket(rate=10, capacity=3, now=clock)
    assert [bucket.try_take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.try_take() == pytest.approx(0.1)
    clock.now += 0.1
    assert bucket.try_take() == 0.0


def test_refill_never_exceeds_capacity():
    clock = ManualTime()
    bucket = TokenBucket(rate=10, capacity=2, now=clock)
    clock.now += 100
    assert bucket.try_take(2) == 0.0
    assert bucket.try_take() > 0


def test_take_sleeps_exactly_as_long_as_needed():
    clock = ManualTime()
    bucket = TokenBucket(rate=45, capacity=5, now=clock)
    waited = sum(bucket.take(1, sleep=clock.sleep) for _ in range(50))
    assert waited == pytest.approx(45 / 45, rel=1e-6)  # 5 from the burst, 45 at 45/s


def test_default_sizing_keeps_rate_plus_burst_within_ibs_limit():
    for configured in (1, 20, 45, 49, 50, 200):
        bucket = TokenBucket.under_ib_limit(configured, now=ManualTime())
        assert bucket.rate + bucket.capacity <= IB_MESSAGES_PER_SECOND_LIMIT
        assert bucket.capacity >= 1


@given(st.lists(st.floats(min_value=0, max_value=0.2), min_size=1, max_size=300))
def test_no_one_second_window_sees_more_than_rate_plus_capacity(gaps):
    clock = ManualTime()
    bucket = TokenBucket.under_ib_limit(45, now=clock)
    sent = []
    for gap in gaps:
        clock.now += gap
        bucket.take(1, sleep=clock.sleep)
        sent.append(clock.now)
    start = 0
    for end, at in enumerate(sent):
        while at - sent[start] >= 1.0:
            start += 1
        assert end - start + 1 <= IB_MESSAGES_PER_SECOND_LIMIT


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError):
        TokenBucket(rate=0, capacity=1)
    with pytest.raises(ValueError):
        TokenBucket(rate=1, capacity=2, now=ManualTime()).try_take(3)


def test_message_counter_counts():
    counter = MessageCounter()
    counter.add()
    counter.add(4)
    assert counter.count == 5
