"""Stages of an expiration afternoon, by minutes to the close, and the moneyness thresholds per stage."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    NORMAL = "NORMAL"
    T30 = "T-30"
    T5 = "T-5"
    T2 = "T-2"
    CLOSED = "CLOSED"


@dataclass(frozen=True)
class Thresholds:
    """Seed defaults. A position is at risk in a stage when its moneyness is above -threshold.

    T-2 has one band per side (``domain.closing_rules``): ``t2_moneyness`` keeps the seed's name and
    applies to short options, ``t2_moneyness_long`` to long ones.
    """

    t30_moneyness: float = 0.02
    t5_moneyness: float = 0.01
    t2_moneyness: float = 0.005  # short options; long ones too unless t2_moneyness_long says otherwise
    t2_moneyness_long: float = 0.005  # long options, when they are not left to lapse
    t30_minutes: float = 30.0
    t5_minutes: float = 5.0
    t2_minutes: float = 2.0


def classify_stage(minutes_to_close: float, thresholds: Thresholds) -> Stage:
    if minutes_to_close <= 0:
        return Stage.CLOSED
    if minutes_to_close <= thresholds.t2_minutes:
        return Stage.T2
    if minutes_to_close <= thresholds.t5_minutes:
        return Stage.T5
    if minutes_to_close <= thresholds.t30_minutes:
        return Stage.T30
    return Stage.NORMAL
