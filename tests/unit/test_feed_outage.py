"""When a failing price feed pages the trader: once per episode, a single 429 never, a sustained one yes."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.feed_outage import Episode, failed, recovered
from domain.session import EASTERN

T0 = datetime(2026, 11, 27, 12, 54, tzinfo=EASTERN)
GRACE = 5.0


def run(kinds: list[str]) -> list[bool]:
    """One failed poll a second; whether each one alerts."""
    episode, alerts = Episode(), []
    for second, kind in enumerate(kinds):
        episode, alert = failed(episode, kind, T0 + timedelta(seconds=second), GRACE)
        alerts.append(alert)
    return alerts


def test_a_single_rate_limit_is_not_an_outage():
    episode, alert = failed(Episode(), "rate_limited", T0, GRACE)
    assert not alert
    assert recovered(episode) == (Episode(), False)  # nothing was alerted, so nothing is "restored"


def test_a_sustained_rate_limit_is_an_outage_once_it_outlasts_the_grace():
    assert run(["rate_limited"] * 10) == [False] * 6 + [True] + [False] * 3


def test_an_outage_alerts_at_once_and_once_per_episode_whatever_the_kinds():
    assert run(["outage", "malformed", "rate_limited", "outage"]) == [True, False, False, False]


def test_no_data_alone_never_pages_but_counts_toward_a_later_rate_limit():
    assert run(["no_data"] * 30) == [False] * 30
    assert run(["no_data"] * 6 + ["rate_limited"]) == [False] * 6 + [True]


def test_restored_only_answers_an_alerted_episode():
    episode, alert = failed(Episode(), "outage", T0, GRACE)
    assert alert and recovered(episode) == (Episode(), True)
