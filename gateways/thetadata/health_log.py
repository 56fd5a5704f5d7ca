"""Counts Terminal errors by kind and by code, and logs each episode once instead of once per poll.

An episode is a run of failures of one endpoint with the same code; it is logged when it starts
(or its code changes) and when the endpoint answers again. A 471 PERMISSION is logged as an error
only the first time per endpoint: the operator has to change the subscription, not read it each second.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

from gateways.prices import FeedErrorKind
from gateways.thetadata.errors import ThetaFeedError


class ErrorLedger:
    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._lock = threading.Lock()
        self._by_kind: Counter[str] = Counter()
        self._by_code: Counter[str] = Counter()
        self._episodes: dict[str, tuple[str, int]] = {}  # endpoint -> (code, failures so far)
        self._permission_told: set[str] = set()
        self.requests_ok = 0

    def failure(self, endpoint: str, error: ThetaFeedError) -> None:
        with self._lock:
            self._by_kind[error.kind.value] += 1
            self._by_code[error.code] += 1
            code, count = self._episodes.get(endpoint, ("", 0))
            self._episodes[endpoint] = (error.code, count + 1 if code == error.code else 1)
            new_episode = code != error.code
            tell_permission = error.kind is FeedErrorKind.PERMISSION and endpoint not in self._permission_told
            if tell_permission:
                self._permission_told.add(endpoint)
        if tell_permission:
            self._log.error("%s", error)
        elif new_episode and error.kind is not FeedErrorKind.PERMISSION:
            level = logging.INFO if error.kind is FeedErrorKind.NO_DATA else logging.WARNING
            self._log.log(level, "%s [%s %s; further identical errors are counted, not logged]",
                          error, endpoint, error.code)

    def success(self, endpoint: str) -> None:
        with self._lock:
            self.requests_ok += 1
            episode = self._episodes.pop(endpoint, None)
        if episode is not None:
            self._log.info("Theta Terminal %s answers again after %d failed request(s) (%s)",
                           endpoint, episode[1], episode[0])

    def counts_by_kind(self) -> dict[str, int]:
        """Failures so far per FeedErrorKind value, every kind present (0 when none)."""
        with self._lock:
            return {kind.value: self._by_kind.get(kind.value, 0) for kind in FeedErrorKind}

    def counts_by_code(self) -> dict[str, int]:
        """Failures so far per Terminal condition (DISCONNECTED, TIMEOUT, CONNECTION_REFUSED, ...)."""
        with self._lock:
            return dict(self._by_code)
