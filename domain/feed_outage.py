"""When a failing price feed is an outage worth paging the trader: a pure rule for the PriceFeed.

An episode is the run of polls that gave no quote, whatever the error kinds along the way; it is
alerted at most once, and only an alerted episode gets a "restored" alert. "No data yet" (a fresh
subscription right after a failover) is never an outage by itself, and a rate limit (429, retried
by the next poll) only once the episode has lasted longer than the grace (the quote max age: by then
no decision can be made anyway). Every other kind is an outage at once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

NEVER_AN_OUTAGE = "no_data"
TRANSIENT = "rate_limited"  # FeedErrorKind values (gateways.prices)


@dataclass(frozen=True)
class Episode:
    since: datetime | None = None  # the first failed poll of the episode, None while quotes flow
    alerted: bool = False


def failed(episode: Episode, kind: str, now: datetime, grace_seconds: float) -> tuple[Episode, bool]:
    """The episode after a failed poll, and whether to alert the outage now."""
    since = episode.since or now
    lasted = (now - since).total_seconds()
    outage = kind != NEVER_AN_OUTAGE and (kind != TRANSIENT or lasted > grace_seconds)
    alert = outage and not episode.alerted
    return replace(episode, since=since, alerted=episode.alerted or alert), alert


def recovered(episode: Episode) -> tuple[Episode, bool]:
    """The (healthy) episode after a poll that gave a quote, and whether to alert "restored"."""
    return Episode(), episode.alerted
