"""The pure feed-health state machine: failover, failback, staleness, cross-check; scenarios and properties."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.feed_health import (
    FALLBACK,
    PRIMARY,
    EventKind,
    FeedHealth,
    FeedHealthConfig,
    OptionsOutcome,
    PollOutcome,
    Reason,
    initial_state,
    observe,
    primary_problem,
    tick,
)
from domain.model import Quote
from domain.session import EASTERN

T0 = datetime(2026, 11, 27, 12, 50, tzinfo=EASTERN)
CONFIG = FeedHealthConfig(mode="thetadata", max_age_seconds=5.0, failback_polls=5, crosscheck_tolerance=0.002)


def spy(mid: float, at: datetime, source: str = PRIMARY) -> Quote:
    return Quote("SPY", round(mid - 0.01, 2), round(mid + 0.01, 2), None, at, source)


def ok(now: datetime, mid: float = 636.0, lag: float = 0.1, source: str = PRIMARY, at: datetime | None = None,
       market_open: bool = True) -> PollOutcome:
    return PollOutcome.ok(source, spy(mid, at or now - timedelta(seconds=lag), source), now, market_open)


def err(now: datetime, kind: str = "outage", source: str = PRIMARY) -> PollOutcome:
    return PollOutcome.failed(source, kind, f"{kind} happened", now)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def kinds(events) -> list[EventKind]:
    return [event.kind for event in events]


@pytest.fixture
def feed() -> FeedHealth:
    machine = FeedHealth(CONFIG, T0)
    for second in range(3):
        assert machine.observe(ok(s(second))) == ()
    return machine


def test_starts_on_thetadata_and_stays_while_healthy(feed):
    for second in range(3, 60):
        assert feed.observe(ok(s(second), mid=636 + second / 100)) == ()
    assert feed.active == PRIMARY


@pytest.mark.parametrize("kind", ["outage", "malformed"])
def test_an_outage_switches_to_ib_on_the_first_failed_poll(feed, kind):
    [event] = feed.observe(err(s(3), kind))
    assert (event.kind, event.reason, event.source, event.at) == (EventKind.SWITCHED_TO_FALLBACK, Reason.ERROR,
                                                                   FALLBACK, s(3))
    assert kind in event.detail
    assert feed.active == FALLBACK and feed.state.reason == "error"


def test_terminal_down_at_t6_is_on_ib_within_3_seconds_at_1_poll_per_second(feed):
    down_at = s(3.2)  # the Terminal dies between two polls
    second = 4
    while feed.active == PRIMARY:
        feed.observe(err(s(second)))
        second += 1
    assert (s(second - 1) - down_at).total_seconds() <= 3


def test_no_data_and_rate_limits_are_not_outages_until_the_quote_goes_stale(feed):
    last_good_at = s(2) - timedelta(seconds=0.1)
    events = []
    second = 3
    while not events:
        events = feed.observe(err(s(second), "no_data" if second % 2 else "rate_limited"))
        second += 1
    [event] = events
    assert event.reason == Reason.STALE
    assert 5.0 < (event.at - last_good_at).total_seconds() <= 6.0  # within one poll of passing the max age


def test_a_frozen_feed_switches_within_one_poll_of_the_max_age(feed):
    frozen = spy(636.0, s(2.9))
    events, second = (), 3
    while not events:
        events = feed.observe(PollOutcome.ok(PRIMARY, frozen, s(second)))
        second += 1
    [event] = events
    assert event.reason == Reason.FROZEN
    assert 5.0 < (event.at - frozen.at).total_seconds() <= 6.0


def test_frozen_even_when_the_terminal_clock_runs_ahead(feed):
    ahead = spy(636.0, s(3) + timedelta(seconds=1))  # skewed but never changing
    reasons = [event.reason for second in range(3, 12) for event in feed.observe(PollOutcome.ok(PRIMARY, ahead,
                                                                                                s(second)))]
    assert reasons == [Reason.FROZEN]


def test_a_delayed_feed_is_stale(feed):
    [event] = feed.observe(ok(s(3), lag=15 * 60))  # a 15-minute delayed (Value) subscription
    assert event.reason == Reason.STALE and "900.0 s old" in event.detail


def test_staleness_is_also_caught_by_tick_without_polls(feed):
    assert feed.tick(s(6)) == ()
    [event] = feed.tick(s(7.5))
    assert event.reason == Reason.STALE


def test_outside_market_hours_a_quiet_quote_is_not_stale(feed):
    assert feed.tick(s(60), market_open=False) == ()
    assert feed.observe(ok(s(61), at=s(2), market_open=False)) == ()
    assert feed.active == PRIMARY
    [event] = feed.observe(err(s(62), "outage"))  # errors still count
    assert event.reason == Reason.ERROR


def test_no_quote_at_all_switches_after_the_max_age():
    machine = FeedHealth(CONFIG, T0)
    assert machine.tick(s(5)) == ()
    [event] = machine.observe(err(s(5.5), "no_data"))
    assert event.reason == Reason.NO_QUOTE


def test_failback_after_n_consecutive_healthy_polls(feed):
    feed.observe(err(s(3)))
    for second in range(4, 8):
        assert feed.observe(ok(s(second), mid=636 + second / 100)) == ()
    [event] = feed.observe(ok(s(8), mid=636.08))
    assert (event.kind, event.source) == (EventKind.SWITCHED_BACK, PRIMARY)
    assert feed.active == PRIMARY and feed.state.reason == ""


def test_an_unhealthy_poll_restarts_the_failback_count(feed):
    feed.observe(err(s(3)))
    second = 4
    for outcome in ["ok"] * 4 + ["no_data"] + ["ok"] * 4:
        poll = ok(s(second), mid=636 + second / 100) if outcome == "ok" else err(s(second), "no_data")
        assert feed.observe(poll) == ()
        second += 1
    assert feed.active == FALLBACK
    assert kinds(feed.observe(ok(s(second), mid=637))) == [EventKind.SWITCHED_BACK]


def test_a_still_frozen_terminal_never_counts_as_healthy(feed):
    feed.observe(err(s(3)))
    frozen = spy(636.0, s(3.5))
    for second in range(4, 30):
        feed.observe(PollOutcome.ok(PRIMARY, frozen, s(second)))
    assert feed.active == FALLBACK


def test_permission_is_one_event_the_switch_naming_it(feed):
    [event] = feed.observe(err(s(3), "permission"))
    assert (event.kind, event.reason) == (EventKind.SWITCHED_TO_FALLBACK, Reason.PERMISSION)
    assert "permission happened" in event.detail
    for second in range(4, 20):
        assert feed.observe(err(s(second), "permission")) == ()


def test_permission_while_already_on_ib_is_reported_once(feed):
    feed.observe(err(s(3), "outage"))
    [event] = feed.observe(err(s(4), "permission"))
    assert (event.kind, event.reason) == (EventKind.PERMISSION_ERROR, Reason.PERMISSION)
    assert all(feed.observe(err(s(second), "permission")) == () for second in range(5, 20))


def test_ib_lacking_permission_while_thetadata_is_in_use_is_one_event_naming_ib(feed):
    ib_options = OptionsOutcome(FALLBACK, s(3), "permission", "IB market data for SPY 20261127 636C: IB 354")
    [event] = feed.observe_options(ib_options)
    assert (event.kind, event.reason, event.source) == (EventKind.PERMISSION_ERROR, Reason.FALLBACK_PERMISSION,
                                                        PRIMARY)
    assert event.detail == "IB market data for SPY 20261127 636C: IB 354" and feed.active == PRIMARY
    assert feed.observe(err(s(4), "permission", FALLBACK)) == ()  # its SPY too: still the one event
    assert all(feed.observe_options(ib_options) == () for _ in range(10))


def test_ib_lacking_permission_while_on_ib_is_left_to_the_outage_alert(feed):
    feed.observe(err(s(3), "outage"))
    assert feed.observe(err(s(4), "permission", FALLBACK)) == ()


def options(now: datetime, kind: str | None = None, market_open: bool = True) -> OptionsOutcome:
    return OptionsOutcome(PRIMARY, now, kind, f"{kind} on options" if kind else "", market_open)


@pytest.mark.parametrize("kind", ["outage", "malformed", "permission"])
def test_a_failing_option_quote_poll_switches_at_once(feed, kind):
    [event] = feed.observe_options(options(s(3), kind))
    assert event.kind is EventKind.SWITCHED_TO_FALLBACK and f"{kind} on options" in event.detail
    assert feed.active == FALLBACK


def test_option_quotes_that_stay_missing_switch_after_the_max_age_once(feed):
    events = []
    for second in range(3, 15):
        events += feed.observe(ok(s(second)))  # SPY is fine all along
        events += feed.observe_options(options(s(second) + timedelta(milliseconds=1), "rate_limited"))
    [event] = events
    assert event.reason == Reason.NO_OPTION_QUOTES
    assert 5.0 < (event.at - s(3)).total_seconds() <= 6.1


def test_missing_option_quotes_outside_market_hours_do_not_switch(feed):
    for second in range(3, 30):
        assert feed.observe_options(options(s(second), "no_data", market_open=False)) == ()
    assert feed.active == PRIMARY


def test_answered_option_polls_end_the_run_of_failures(feed):
    for second in range(3, 30):
        kind = "no_data" if second % 3 else None  # never missing for longer than 2 s in a row
        assert feed.observe_options(options(s(second), kind)) == ()


def test_no_failback_while_thetadata_options_still_fail(feed):
    feed.observe(err(s(3)))
    for second in range(4, 20):
        feed.observe(ok(s(second), mid=636 + second / 100))
        feed.observe_options(options(s(second), "outage"))
    assert feed.active == FALLBACK
    events = []
    for second in range(20, 20 + CONFIG.failback_polls):
        events += feed.observe(ok(s(second), mid=636 + second / 100))
        events += feed.observe_options(options(s(second)))
    assert kinds(events) == [EventKind.SWITCHED_BACK]


def test_ibs_fresh_quote_stands_in_for_one_failed_thetadata_poll(feed):
    feed.observe(ok(s(3), source=FALLBACK))
    assert feed.observe(err(s(3.1), "rate_limited")) == ()
    assert feed.stand_in(s(3.2), {FALLBACK}) == FALLBACK
    assert feed.stand_in(s(3.2), {PRIMARY, FALLBACK}) == PRIMARY  # the source in use when it answered
    assert feed.stand_in(s(8.5), {FALLBACK}) is None  # IB's quote is older than the max age
    assert feed.stand_in(s(8.5), {FALLBACK}, market_open=False) == FALLBACK
    assert feed.stand_in(s(3.2), set()) is None


def test_ib_polls_alone_keep_checking_thetadata_staleness(feed):
    events = [event for second in range(3, 12) for event in feed.observe(ok(s(second), source=FALLBACK))]
    assert kinds(events) == [EventKind.SWITCHED_TO_FALLBACK]


def test_crosscheck_alerts_once_per_disagreement(feed):
    events = []
    for second in range(3, 10):
        events += feed.observe(ok(s(second), mid=636.0))
        events += feed.observe(ok(s(second) + timedelta(milliseconds=100), mid=638.0, source=FALLBACK))
    assert kinds(events) == [EventKind.CROSSCHECK_DISAGREEMENT]
    assert "636.00" in events[0].detail and "638.00" in events[0].detail
    assert feed.active == PRIMARY  # a disagreement is alerted, not a failover
    resolved = feed.observe(ok(s(10), mid=637.9995))
    assert kinds(resolved) == [EventKind.CROSSCHECK_RESOLVED]


def test_crosscheck_within_tolerance_or_with_a_dead_source_is_silent(feed):
    events = []
    for second in range(3, 10):
        events += feed.observe(ok(s(second), mid=636.0))
        events += feed.observe(ok(s(second), mid=636.0 * 1.0019, source=FALLBACK))
    events += feed.observe(err(s(10), "outage", source=FALLBACK))
    events += feed.observe(ok(s(11), mid=700.0))
    assert kinds(events) == []


@pytest.mark.parametrize(("mode", "source"), [("ib", FALLBACK), ("sim", "sim")])
def test_single_source_modes_never_switch(mode, source):
    machine = FeedHealth(FeedHealthConfig(mode=mode), T0)
    for second in range(30):
        assert machine.observe(err(s(second))) == ()
        assert machine.tick(s(second)) == ()
    assert machine.active == source


def test_config_validation_and_from_settings():
    with pytest.raises(ValueError):
        FeedHealthConfig(mode="bloomberg")
    with pytest.raises(ValueError):
        FeedHealthConfig(failback_polls=0)

    class Settings:
        price_source, quote_max_age_seconds, feed_failback_polls, feed_crosscheck_tolerance = "ib", 4.0, 3, 0.01
    assert FeedHealthConfig.from_settings(Settings()) == FeedHealthConfig("ib", 4.0, 3, 0.01)


def test_the_functions_are_pure():
    state = initial_state(CONFIG, T0)
    poll = err(s(1))
    first = observe(state, CONFIG, poll)
    assert observe(state, CONFIG, poll) == first  # same input, same output; the input state is unchanged
    assert state.active == PRIMARY and first[0].active == FALLBACK
    assert tick(first[0], CONFIG, s(2)) == (first[0], ())


# ---------- properties ----------

POLL = st.one_of(
    st.tuples(st.just("primary_ok"), st.floats(0, 12), st.floats(630, 642)),  # exchange lag, mid
    st.tuples(st.just("primary_repeat"), st.just(0.0), st.just(0.0)),
    st.tuples(st.just("primary_err"), st.sampled_from(["outage", "no_data", "rate_limited", "permission",
                                                        "malformed"]), st.just(0.0)),
    st.tuples(st.just("ib_ok"), st.floats(0, 3), st.floats(630, 642)),
    st.tuples(st.just("ib_err"), st.just("outage"), st.just(0.0)),
    st.tuples(st.just("tick"), st.just(0.0), st.just(0.0)),
)
STEPS = st.lists(st.tuples(st.floats(0.0, 2.5), POLL), max_size=80)


def _run(steps, config=CONFIG):
    """Drive the machine, checking invariants after every step; returns the event log."""
    state, now = initial_state(config, T0), T0
    log, last_primary_quote = [], None
    healthy_run = 0
    for gap, (action, a, b) in steps:
        now += timedelta(seconds=gap)
        if action == "primary_ok":
            last_primary_quote = spy(b, now - timedelta(seconds=a))
            outcome = PollOutcome.ok(PRIMARY, last_primary_quote, now)
        elif action == "primary_repeat" and last_primary_quote is not None:
            outcome = PollOutcome.ok(PRIMARY, last_primary_quote, now)
        elif action == "primary_err":
            outcome = err(now, a)
        elif action == "ib_ok":
            outcome = ok(now, mid=b, lag=a, source=FALLBACK)
        elif action == "ib_err":
            outcome = err(now, "outage", FALLBACK)
        else:
            outcome = None
        before = state
        state, events = observe(state, config, outcome) if outcome else tick(state, config, now)
        if outcome is not None and outcome.source == PRIMARY:
            healthy = outcome.quote is not None and primary_problem(state, config, now) is None
            healthy_run = healthy_run + 1 if healthy else 0
        for event in events:
            assert event.at == now
            if event.kind is EventKind.SWITCHED_BACK:
                assert before.active == FALLBACK and healthy_run >= config.failback_polls
            if event.kind is EventKind.SWITCHED_TO_FALLBACK:
                assert before.active == PRIMARY
        # Never on ThetaData while its quote is unusable, nor right after an outage-kind error.
        if state.active == PRIMARY:
            assert primary_problem(state, config, now) is None
            assert outcome is None or outcome.source != PRIMARY or outcome.error_kind not in (
                "outage", "permission", "malformed")
        assert state.active in (PRIMARY, FALLBACK)
        log.append((state.active, events))
    return log


@settings(max_examples=300, deadline=None)
@given(STEPS)
def test_property_invariants_hold_for_any_poll_sequence(steps):
    log = _run(steps)
    events = [event for _, batch in log for event in batch]
    switches = [event.kind for event in events if event.kind in (EventKind.SWITCHED_TO_FALLBACK,
                                                                  EventKind.SWITCHED_BACK)]
    # Switches alternate, starting with a failover; the active source follows the last switch.
    assert switches == [EventKind.SWITCHED_TO_FALLBACK, EventKind.SWITCHED_BACK] * (len(switches) // 2) + (
        [EventKind.SWITCHED_TO_FALLBACK] if len(switches) % 2 else [])
    assert sum(event.kind is EventKind.PERMISSION_ERROR for event in events) <= 1
    checks = [event.kind for event in events if event.kind.value.startswith("crosscheck")]
    assert all(kind is (EventKind.CROSSCHECK_DISAGREEMENT if index % 2 == 0 else EventKind.CROSSCHECK_RESOLVED)
               for index, kind in enumerate(checks))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40), st.floats(0.0, 0.99))
def test_property_any_outage_is_on_ib_within_3_seconds_at_1_poll_per_second(healthy_seconds, phase):
    machine = FeedHealth(CONFIG, T0)
    for second in range(healthy_seconds):
        machine.observe(ok(s(second), mid=636 + second / 100))
    down_at = s(healthy_seconds + phase)
    poll = healthy_seconds + 1
    while machine.active == PRIMARY:
        machine.observe(err(s(poll), "outage"))
        poll += 1
    assert (s(poll - 1) - down_at).total_seconds() <= 3


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10), st.lists(st.booleans(), max_size=40))
def test_property_failback_needs_exactly_n_healthy_polls_in_a_row(n, healthy_polls):
    config = FeedHealthConfig(failback_polls=n)
    machine = FeedHealth(config, T0)
    machine.observe(err(s(0.5)))
    run = 0
    for index, healthy in enumerate(healthy_polls, start=1):
        before = machine.active
        machine.observe(ok(s(index), mid=636 + index / 100) if healthy else err(s(index), "no_data"))
        run = run + 1 if healthy else 0
        if before == FALLBACK:
            assert (machine.active == PRIMARY) == (run >= n)
        if machine.active == PRIMARY:
            break


@settings(max_examples=100, deadline=None)
@given(STEPS, st.sampled_from(["ib", "sim"]))
def test_property_single_source_modes_never_emit(steps, mode):
    config = FeedHealthConfig(mode=mode)
    state = initial_state(config, T0)
    now = T0
    for gap, (action, _a, _b) in steps:
        now += timedelta(seconds=gap)
        state, events = observe(state, config, err(now, "outage")) if action != "tick" else tick(state, config, now)
        assert events == () and state.active == (FALLBACK if mode == "ib" else "sim")
