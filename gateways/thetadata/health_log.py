"""Logs each Terminal error episode once instead of once per poll.

An episode is a run of failures of one endpoint, whatever the codes along the way (a hang alternates
TIMEOUT and BUSY): it is logged when it starts, once more at most if its kind changes (say from an
outage to a malformed body), and when the endpoint answers again. A 471 PERMISSION is logged as an
error only the first time per endpoint: the operator has to change the subscription, not read it
each second. Counting the failures is the metrics' job (gateways.prices.ReportingSource).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from domain.feed_errors import FeedErrorKind
from gateways.thetadata.errors import ThetaFeedError


@dataclass
class _Episode:
    kind: FeedErrorKind  # the kind it started with
    codes: dict[str, None] = field(default_factory=dict)  # the codes seen, in order
    failures: int = 0
    kind_change_told: bool = False


class EpisodeLog:
    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._lock = threading.Lock()
        self._episodes: dict[str, _Episode] = {}  # endpoint -> its current episode
        self._permission_told: set[str] = set()

    def failure(self, endpoint: str, error: ThetaFeedError) -> None:
        with self._lock:
            episode = self._episodes.get(endpoint)
            started = episode is None
            if episode is None:
                episode = self._episodes[endpoint] = _Episode(error.kind)
            episode.failures += 1
            episode.codes[error.code] = None
            changed = not started and error.kind is not episode.kind and not episode.kind_change_told
            episode.kind_change_told = episode.kind_change_told or changed
            tell_permission = error.kind is FeedErrorKind.PERMISSION and endpoint not in self._permission_told
            if tell_permission:
                self._permission_told.add(endpoint)
        if tell_permission:
            self._log.error("%s", error)
        elif (started or changed) and error.kind is not FeedErrorKind.PERMISSION:
            level = logging.INFO if error.kind is FeedErrorKind.NO_DATA else logging.WARNING
            self._log.log(level, "%s [%s %s; %s]", error, endpoint, error.code,
                          "further errors are not logged until it answers" if started else
                          f"the failures since the first are now {error.kind.value}")

    def success(self, endpoint: str) -> None:
        with self._lock:
            episode = self._episodes.pop(endpoint, None)
        if episode is not None:
            self._log.info("Theta Terminal %s answers again after %d failed request(s) (%s)",
                           endpoint, episode.failures, ", ".join(episode.codes))
