"""Pure formatting of the status dict for the views: times in two zones, risk colours, moneyness buckets.

Everything that carries meaning in colour also carries it in text (risk level words, bucket labels),
so the screen reads the same on a monochrome terminal or to a colour-blind trader.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.session import EASTERN

DEFAULT_TRADER_TZ = "Asia/Hong_Kong"
RISK_STYLES = {"HIGH": "bold white on red", "MEDIUM": "bold black on yellow", "LOW": "green"}


def parse_instant(value: Any) -> datetime | None:
    try:
        instant = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return instant if instant.tzinfo else None


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TRADER_TZ)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TRADER_TZ)


def countdown(minutes: Any) -> str:
    """Minutes to the close as H:MM:SS, the way the seed's layout shows it."""
    if not isinstance(minutes, int | float):
        return "--:--:--"
    if minutes <= 0:
        return "CLOSED"
    seconds = int(round(minutes * 60))
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def two_zones(instant: datetime | None, trader: ZoneInfo, with_seconds: bool = False) -> str:
    """'16:00 ET / 05:00 HKT +1d': the exchange's time and the trader's, with the day shift if any."""
    if instant is None:
        return "?"
    fmt = "%H:%M:%S" if with_seconds else "%H:%M"
    et, local = instant.astimezone(EASTERN), instant.astimezone(trader)
    shift = (local.date() - et.date()).days
    day = f" {shift:+d}d" if shift else ""
    return f"{et.strftime(fmt)} ET / {local.strftime(fmt)} {local.tzname()}{day}"


def pct(value: Any, digits: int = 2) -> str:
    return f"{value:+.{digits}%}" if isinstance(value, int | float) else "n/a"


def price(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else "n/a"


def probability(value: Any) -> str:
    if not isinstance(value, int | float):
        return "n/a"
    return "<0.1%" if 0 < value < 0.001 else f"{value:.1%}"


def risk_style(level: str) -> str:
    return RISK_STYLES.get(str(level).upper(), "")


def bucket(moneyness: float, thresholds: Mapping[str, Any]) -> tuple[str, str]:
    """(label, style) of a moneyness against the service's bands (status' thresholds): a colour scale.
    A band the status does not report is not drawn: no default here can drift from the service's."""
    if moneyness > 0:
        return "ITM", "bold white on red"
    for key, label, style in _BANDS:
        band = thresholds.get(key)
        if isinstance(band, int | float) and moneyness > -band:
            return label, style
    return "FAR", "dim"


_BANDS = (("t2_moneyness", "NEAR", "bold black on dark_orange"), ("t5_moneyness", "WATCH", "black on yellow"),
          ("t30_moneyness", "OTM", "black on green"))


def on_off(flag: Any, on: str, off: str) -> str:
    return on if flag else off
