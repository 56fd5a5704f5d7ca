"""Pieces both response parsers share: Eastern timestamps, checked numbers, the malformed-body error.

The Terminal stamps everything in US Eastern time without an offset (v2: ``date`` YYYYMMDD plus
``ms_of_day``; v3: ``YYYY-MM-DDTHH:mm:ss.SSS``); the rest of the system wants aware datetimes.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta
from typing import Any

from domain.feed_errors import FeedErrorKind
from domain.session import EASTERN
from gateways.thetadata.errors import MALFORMED_BODY, ThetaFeedError

MS_PER_DAY = 24 * 60 * 60 * 1000


def malformed(what: str, problem: str) -> ThetaFeedError:
    return ThetaFeedError(FeedErrorKind.MALFORMED, MALFORMED_BODY, f"{what}: malformed response: {problem}")


def no_data(what: str, problem: str) -> ThetaFeedError:
    return ThetaFeedError(FeedErrorKind.NO_DATA, "NO_DATA", f"{what}: {problem}")


def load_json(body: bytes | str, what: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise malformed(what, f"not JSON ({error})") from None


def yyyymmdd(value: object, what: str) -> date:
    """v2 dates are integers like 20261127; v3 writes 2026-11-27 (both accepted)."""
    text = str(value).replace("-", "")
    if isinstance(value, bool) or len(text) != 8 or not text.isdigit():
        raise malformed(what, f"date {value!r} is not YYYYMMDD")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise malformed(what, f"date {value!r} does not exist") from None


def eastern_from_ms(day: object, ms_of_day: object, what: str) -> datetime:
    ms = number(ms_of_day, what, "ms_of_day")
    if not 0 <= ms < MS_PER_DAY + 1000:  # allow a leap-second-ish overshoot, nothing more
        raise malformed(what, f"ms_of_day {ms_of_day!r} out of range")
    midnight = datetime.combine(yyyymmdd(day, what), datetime.min.time(), tzinfo=EASTERN)
    # Wall-clock arithmetic in the Eastern zone: ms_of_day counts from local midnight.
    return midnight + timedelta(milliseconds=ms)


def eastern_from_iso(text: object, what: str) -> datetime:
    if not isinstance(text, str):
        raise malformed(what, f"timestamp {text!r} is not text")
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise malformed(what, f"timestamp {text!r} is not ISO 8601") from None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=EASTERN)


def number(value: object, what: str, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise malformed(what, f"{field} {value!r} is not a finite number")
    return float(value)


def bid_ask(bid: object, ask: object, what: str) -> tuple[float, float | None]:
    """A quote's two sides. A zero bid is real information (far out-of-the-money options are bid
    at 0); a zero ask means nothing is offered, so it becomes None."""
    bid_value, ask_value = number(bid, what, "bid"), number(ask, what, "ask")
    if bid_value < 0 or ask_value < 0:
        raise malformed(what, f"negative price (bid {bid!r}, ask {ask!r})")
    return bid_value, (ask_value if ask_value > 0 else None)
