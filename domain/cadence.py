"""How often positions and orders are read from the broker: the V2 design's minimal, paced API use."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.stages import Stage

MINUTE = 60.0


def poll_interval_seconds(stage: Stage, has_positions: bool) -> float:
    """30 min normally, 15 with positions, 5 from T-30, 1 from T-5 (the seed's schedule)."""
    if stage in (Stage.T5, Stage.T2):
        return 1 * MINUTE
    if stage is Stage.T30:
        return 5 * MINUTE
    return 15 * MINUTE if has_positions else 30 * MINUTE


def poll_due(last_poll: datetime | None, now: datetime, stage: Stage, has_positions: bool,
             fill_since_last_poll: bool) -> bool:
    """Due on start, right after any fill, or when the stage's interval has passed."""
    if last_poll is None or fill_since_last_poll:
        return True
    return now - last_poll >= timedelta(seconds=poll_interval_seconds(stage, has_positions))
