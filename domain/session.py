"""Clock arithmetic for one expiration session, given its close (from a real exchange calendar)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.ex_dividend import Dividend
from domain.stages import Stage, Thresholds, classify_stage

EASTERN = ZoneInfo("America/New_York")
# OCC's cut-off for exercise notices on expiration day.
EXERCISE_CUTOFF_ET = time(17, 30)
# The regular open, the same on early-close days: the morning check's disposal starts here.
MARKET_OPEN_ET = time(9, 30)


@dataclass(frozen=True)
class ExpirySession:
    day: date
    close: datetime  # last trading time of the expiring options, timezone-aware
    regular_close: datetime  # the exchange's usual close that day of the week, for display
    # The dividends going ex on the next session (gateways.calendar): this session is the last to exercise for them.
    ex_dividends: tuple[Dividend, ...] = ()

    @property
    def early_close(self) -> bool:
        return self.close < self.regular_close

    def ex_dividend(self, symbol: str) -> Dividend | None:
        """The dividend ``symbol`` goes ex for on the next session, if any."""
        return next((d for d in self.ex_dividends if d.symbol == symbol.upper()), None)

    @property
    def exercise_cutoff(self) -> datetime:
        return datetime.combine(self.day, EXERCISE_CUTOFF_ET, tzinfo=EASTERN)

    def minutes_to_close(self, now: datetime) -> float:
        return (self.close - now).total_seconds() / 60.0

    def instant(self, minutes_before_close: float) -> datetime:
        return self.close - timedelta(minutes=minutes_before_close)

    def stage(self, now: datetime, thresholds: Thresholds) -> Stage:
        return classify_stage(self.minutes_to_close(now), thresholds)

    def stage_instants(self, thresholds: Thresholds) -> dict[Stage, datetime]:
        return {
            Stage.T30: self.instant(thresholds.t30_minutes),
            Stage.T5: self.instant(thresholds.t5_minutes),
            Stage.T2: self.instant(thresholds.t2_minutes),
            Stage.CLOSED: self.close,
        }
