"""How a price source fails, in kinds the feed's health rules, the metrics and the alerts all speak."""

from __future__ import annotations

from enum import StrEnum


class FeedErrorKind(StrEnum):
    NO_DATA = "no_data"  # nothing quoted yet: not an outage
    OUTAGE = "outage"  # unreachable, disconnected upstream, timing out
    RATE_LIMITED = "rate_limited"
    PERMISSION = "permission"  # subscription lacks the data: operator must act
    MALFORMED = "malformed"


class FeedError(Exception):
    def __init__(self, kind: FeedErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
