"""Which price source the PriceFeed uses, decided from each poll's outcome: a pure state machine.

Inputs are the outcome of every poll of every source (a quote with its exchange time, or the kind
of the FeedError) and the current time; nothing here reads a clock or does I/O. In mode
``thetadata`` the primary is ThetaData and the fallback IB:

- switch to IB at once when a ThetaData poll fails with an outage, permission or malformed-body
  error, or when ThetaData's latest quote is stale (its exchange time is more than the max age from
  now, e.g. a 15-minute delayed subscription) or frozen (the same exchange time keeps coming back
  for longer than the max age). Polling at 1/s, the switch happens on the first poll that shows
  the problem: within 1 s of an error, within 1 s of the quote passing its max age.
- "no data yet" (472) and "rate limited" (429) are not outages: they only switch when they last
  long enough for the quote to go stale.
- switch back only after ``failback_polls`` consecutive healthy ThetaData polls.
- while both sources are live, a SPY mid disagreement beyond the tolerance (a fraction) is an
  event; its end is another, so an alert goes out once per episode.
- a failing ThetaData option-quote poll (the bulk snapshot) counts like a SPY one: an outage,
  permission or malformed answer switches at once, "no data" or "rate limited" once it has lasted
  longer than the max age during market hours; while it fails ThetaData is not healthy.
- a permission error causes one event: the switch to IB, naming it; when already on IB, one
  permission event for the life of the machine.
- when ThetaData is in use but one poll failed without a switch (no data, rate limited), IB's
  quote of the same poll stands in if it is fresh (``stand_in``).
- an IB permission error while ThetaData is in use is one event for the life of the machine: the
  fallback would have no prices the day ThetaData fails, so the operator can fix it before then.

Modes ``ib`` and ``sim`` use only that source: no switching, no events.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from domain.model import Quote

PRIMARY = "thetadata"
FALLBACK = "ib"
SIM = "sim"
MODE_SOURCES = {"thetadata": PRIMARY, "ib": FALLBACK, "sim": SIM}
# FeedErrorKind values (gateways.prices) that make ThetaData unusable at once. no_data and
# rate_limited are missing on purpose: they are judged by the staleness they cause.
SWITCH_NOW_KINDS = frozenset({"outage", "permission", "malformed"})
PERMISSION_KIND = "permission"


class Reason(StrEnum):
    ERROR = "error"
    PERMISSION = "permission"
    STALE = "stale"
    FROZEN = "frozen"
    NO_QUOTE = "no_quote"
    NO_OPTION_QUOTES = "no_option_quotes"
    FALLBACK_PERMISSION = "fallback_permission"  # IB lacks a market-data subscription


class EventKind(StrEnum):
    SWITCHED_TO_FALLBACK = "switched_to_fallback"
    SWITCHED_BACK = "switched_back"
    PERMISSION_ERROR = "permission_error"
    CROSSCHECK_DISAGREEMENT = "crosscheck_disagreement"
    CROSSCHECK_RESOLVED = "crosscheck_resolved"


@dataclass(frozen=True)
class FeedEvent:
    kind: EventKind
    at: datetime
    source: str  # the source in use after the event
    reason: str = ""  # a Reason for switches
    detail: str = ""  # one human-readable line for logs and alerts


@dataclass(frozen=True)
class FeedHealthConfig:
    mode: str = "thetadata"  # thetadata | ib | sim (settings.price_source)
    max_age_seconds: float = 5.0  # settings.quote_max_age_seconds
    failback_polls: int = 5  # settings.feed_failback_polls
    crosscheck_tolerance: float = 0.002  # settings.feed_crosscheck_tolerance, a fraction

    def __post_init__(self) -> None:
        if self.mode not in MODE_SOURCES:
            raise ValueError(f"mode must be one of {', '.join(MODE_SOURCES)}, got {self.mode!r}")
        if self.max_age_seconds <= 0 or self.failback_polls < 1 or self.crosscheck_tolerance <= 0:
            raise ValueError("max_age_seconds and crosscheck_tolerance must be above 0, failback_polls at least 1")

    @classmethod
    def from_settings(cls, settings) -> FeedHealthConfig:
        return cls(settings.price_source, settings.quote_max_age_seconds, settings.feed_failback_polls,
                   settings.feed_crosscheck_tolerance)


@dataclass(frozen=True)
class PollOutcome:
    """One poll of one source's SPY quote: ``quote`` or ``error_kind`` (a FeedErrorKind value)."""

    source: str
    now: datetime  # when the poll finished, from the injected clock
    quote: Quote | None = None
    error_kind: str | None = None
    error: str = ""
    market_open: bool = True  # outside regular hours a quiet quote is neither stale nor frozen

    @classmethod
    def ok(cls, source: str, quote: Quote, now: datetime, market_open: bool = True) -> PollOutcome:
        return cls(source, now, quote=quote, market_open=market_open)

    @classmethod
    def failed(cls, source: str, error_kind: str, error: str, now: datetime, market_open: bool = True) -> PollOutcome:
        return cls(source, now, error_kind=str(error_kind), error=error, market_open=market_open)


@dataclass(frozen=True)
class OptionsOutcome:
    """One poll of one source's option quotes: ``error_kind`` (a FeedErrorKind value) None when it answered."""

    source: str
    now: datetime  # when the poll finished, from the injected clock
    error_kind: str | None = None
    error: str = ""
    market_open: bool = True


@dataclass(frozen=True)
class SourceView:
    quote: Quote | None = None  # the latest quote this source gave
    first_seen: datetime | None = None  # when (our clock) that quote's exchange time first came
    repeated: bool = False  # the same exchange time came on more than one poll
    healthy_streak: int = 0  # consecutive healthy polls
    last_error_kind: str | None = None  # the last poll's error kind, None when it gave a quote
    options_failing_since: datetime | None = None  # first of the current run of failed option-quote polls


@dataclass(frozen=True)
class FeedHealthState:
    active: str  # the source in use
    started_at: datetime
    primary: SourceView = SourceView()
    fallback: SourceView = SourceView()
    reason: str = ""  # why the fallback is in use ("" on the primary)
    permission_reported: bool = False
    fallback_permission_reported: bool = False
    disagreeing: bool = False


Step = tuple[FeedHealthState, tuple[FeedEvent, ...]]


def initial_state(config: FeedHealthConfig, now: datetime) -> FeedHealthState:
    return FeedHealthState(active=MODE_SOURCES[config.mode], started_at=now)


def observe(state: FeedHealthState, config: FeedHealthConfig, outcome: PollOutcome) -> Step:
    """The state after one poll's outcome, and the events it caused (in order)."""
    if config.mode != "thetadata" or outcome.source not in (PRIMARY, FALLBACK):
        return state, ()
    now = outcome.now
    told: list[FeedEvent] = []
    if outcome.source == FALLBACK:
        state = replace(state, fallback=_record(state.fallback, outcome, config))
        state, told = _fallback_permission(state, outcome)
        problem = primary_problem(state, config, now, outcome.market_open)
    else:
        state = replace(state, primary=_record(state.primary, outcome, config))
        problem = (_error_problem(outcome.error_kind, f"ThetaData {outcome.error_kind}: {outcome.error}")
                   or primary_problem(state, config, now, outcome.market_open))
    state, events = _decide(state, config, now, problem)
    state, crosscheck = _crosscheck(state, config, now)
    return state, tuple(told + events + crosscheck)


def observe_options(state: FeedHealthState, config: FeedHealthConfig, outcome: OptionsOutcome) -> Step:
    """The state after one poll of ThetaData's option quotes (IB's do not decide the source)."""
    if config.mode != "thetadata" or outcome.source not in (PRIMARY, FALLBACK):
        return state, ()
    if outcome.source == FALLBACK:
        state, told = _fallback_permission(state, outcome)
        return state, tuple(told)
    now = outcome.now
    if outcome.error_kind is None:
        return replace(state, primary=replace(state.primary, options_failing_since=None)), ()
    since = state.primary.options_failing_since or now
    state = replace(state, primary=replace(state.primary, options_failing_since=since, healthy_streak=0))
    problem = _error_problem(outcome.error_kind, f"ThetaData option quotes {outcome.error_kind}: {outcome.error}")
    failing = (now - since).total_seconds()
    if problem is None and outcome.market_open and failing > config.max_age_seconds:
        problem = Reason.NO_OPTION_QUOTES, f"no ThetaData option quotes for {failing:.1f} s ({outcome.error})"
    state, events = _decide(state, config, now, problem)
    return state, tuple(events)


def tick(state: FeedHealthState, config: FeedHealthConfig, now: datetime, market_open: bool = True) -> Step:
    """Time passed without a poll: a quote can go stale on its own."""
    if config.mode != "thetadata":
        return state, ()
    state, events = _decide(state, config, now, primary_problem(state, config, now, market_open))
    return state, tuple(events)


def stand_in(state: FeedHealthState, config: FeedHealthConfig, now: datetime, answered: Collection[str],
             market_open: bool = True) -> str | None:
    """Whose quote of this poll to use: the source in use if it answered; when ThetaData is in use
    but failed without a switch (no data yet, rate limited), IB if its quote is fresh; else None."""
    if state.active in answered:
        return state.active
    quote = state.fallback.quote
    if state.active != PRIMARY or FALLBACK not in answered or quote is None:
        return None
    fresh = not market_open or abs((now - quote.at).total_seconds()) <= config.max_age_seconds
    return FALLBACK if fresh else None


def primary_problem(state: FeedHealthState, config: FeedHealthConfig, now: datetime,
                    market_open: bool = True) -> tuple[Reason, str] | None:
    """Why ThetaData's latest quote cannot be used at ``now``, or None."""
    return _quote_problem(state.primary, state.started_at, config, now, market_open, "ThetaData")


def _record(view: SourceView, outcome: PollOutcome, config: FeedHealthConfig) -> SourceView:
    if outcome.quote is None:
        return replace(view, healthy_streak=0, last_error_kind=outcome.error_kind or "no_data")
    quote = outcome.quote
    if view.quote is not None and view.quote.at == quote.at:
        view = replace(view, quote=quote, repeated=True, last_error_kind=None)
    else:
        view = replace(view, quote=quote, first_seen=outcome.now, repeated=False, last_error_kind=None)
    # started_at does not matter here: the view has a quote, so "no quote yet" cannot apply.
    healthy = _quote_problem(view, outcome.now, config, outcome.now, outcome.market_open, "") is None
    return replace(view, healthy_streak=view.healthy_streak + 1 if healthy else 0)


def _quote_problem(view: SourceView, started_at: datetime, config: FeedHealthConfig, now: datetime,
                   market_open: bool, name: str) -> tuple[Reason, str] | None:
    limit = config.max_age_seconds
    if not market_open:
        return None
    if view.quote is None or view.first_seen is None:
        waited = (now - started_at).total_seconds()
        return (Reason.NO_QUOTE, f"no {name} quote in {waited:.1f} s") if waited > limit else None
    age = abs((now - view.quote.at).total_seconds())  # abs: a quote from "the future" is a clock fault
    unchanged = (now - view.first_seen).total_seconds()
    if unchanged <= limit and age <= limit:
        return None
    # Frozen when later polls brought the same exchange time back; merely old (a delayed feed, or
    # no poll for a while) otherwise.
    if view.repeated:
        return Reason.FROZEN, f"{name} quote frozen: same exchange time for {max(unchanged, age):.1f} s"
    return Reason.STALE, f"{name} quote is {max(unchanged, age):.1f} s old (max {limit:g} s)"


def _fallback_permission(state: FeedHealthState,
                         outcome: PollOutcome | OptionsOutcome) -> tuple[FeedHealthState, list[FeedEvent]]:
    """IB's permission error, once, while ThetaData is in use (on IB, the PriceFeed's outage alert says it)."""
    if outcome.error_kind != PERMISSION_KIND or state.active != PRIMARY or state.fallback_permission_reported:
        return state, []
    return replace(state, fallback_permission_reported=True), [FeedEvent(
        EventKind.PERMISSION_ERROR, outcome.now, state.active, Reason.FALLBACK_PERMISSION.value, outcome.error)]


def _error_problem(error_kind: str | None, detail: str) -> tuple[Reason, str] | None:
    """The problem a failed poll is at once; None for kinds judged by the staleness they cause."""
    if error_kind not in SWITCH_NOW_KINDS:
        return None
    if error_kind == PERMISSION_KIND:
        return Reason.PERMISSION, detail
    return Reason.ERROR, detail


def _decide(state: FeedHealthState, config: FeedHealthConfig, now: datetime,
            problem: tuple[Reason, str] | None) -> tuple[FeedHealthState, list[FeedEvent]]:
    if problem is not None:
        reason, detail = problem
        permission = reason is Reason.PERMISSION
        if state.active == PRIMARY:
            # One event, even for a permission error: the alert it becomes names both.
            state = replace(state, active=FALLBACK, reason=reason.value,
                            primary=replace(state.primary, healthy_streak=0),
                            permission_reported=state.permission_reported or permission)
            return state, [FeedEvent(EventKind.SWITCHED_TO_FALLBACK, now, FALLBACK, reason.value, detail)]
        if permission and not state.permission_reported:
            state = replace(state, permission_reported=True)
            return state, [FeedEvent(EventKind.PERMISSION_ERROR, now, FALLBACK, reason.value, detail)]
        return state, []
    if state.active == FALLBACK and state.primary.healthy_streak >= config.failback_polls:
        state = replace(state, active=PRIMARY, reason="")
        return state, [FeedEvent(EventKind.SWITCHED_BACK, now, PRIMARY, "",
                                 f"ThetaData healthy for {config.failback_polls} consecutive polls")]
    return state, []


def _live_mid(view: SourceView, config: FeedHealthConfig, now: datetime) -> float | None:
    if view.quote is None or view.last_error_kind is not None or view.quote.mid is None:
        return None
    if abs((now - view.quote.at).total_seconds()) > config.max_age_seconds:
        return None
    return view.quote.mid


def _crosscheck(state: FeedHealthState, config: FeedHealthConfig,
                now: datetime) -> tuple[FeedHealthState, list[FeedEvent]]:
    primary, fallback = _live_mid(state.primary, config, now), _live_mid(state.fallback, config, now)
    if primary is None or fallback is None:
        return state, []
    gap = abs(primary - fallback) / ((primary + fallback) / 2)
    if gap > config.crosscheck_tolerance and not state.disagreeing:
        return replace(state, disagreeing=True), [FeedEvent(
            EventKind.CROSSCHECK_DISAGREEMENT, now, state.active, "",
            f"SPY mid ThetaData {primary:.2f} vs IB {fallback:.2f}: {gap:.3%} apart "
            f"(tolerance {config.crosscheck_tolerance:.3%})")]
    if gap <= config.crosscheck_tolerance and state.disagreeing:
        return replace(state, disagreeing=False), [FeedEvent(
            EventKind.CROSSCHECK_RESOLVED, now, state.active, "",
            f"SPY mid ThetaData {primary:.2f} and IB {fallback:.2f} agree again ({gap:.3%} apart)")]
    return state, []


class FeedHealth:
    """The state machine with its state held, for the one actor that owns it (not thread-safe)."""

    def __init__(self, config: FeedHealthConfig, now: datetime) -> None:
        self.config = config
        self.state = initial_state(config, now)

    @property
    def active(self) -> str:
        return self.state.active

    def observe(self, outcome: PollOutcome) -> tuple[FeedEvent, ...]:
        self.state, events = observe(self.state, self.config, outcome)
        return events

    def observe_options(self, outcome: OptionsOutcome) -> tuple[FeedEvent, ...]:
        self.state, events = observe_options(self.state, self.config, outcome)
        return events

    def tick(self, now: datetime, market_open: bool = True) -> tuple[FeedEvent, ...]:
        self.state, events = tick(self.state, self.config, now, market_open)
        return events

    def stand_in(self, now: datetime, answered: Collection[str], market_open: bool = True) -> str | None:
        return stand_in(self.state, self.config, now, answered, market_open)
