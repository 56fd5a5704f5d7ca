"""The service's trading mode: the one switch every layer reads (the policy, the actors, commands, config)."""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    MONITOR = "monitor"  # assess, warn and alert; never trade
    ACTIVE = "active"  # close by the stage rules
    EMERGENCY = "emergency"  # close every expiring position now, at market if need be
