"""`cleanup-manager clock`: is a date a session, its close and stage instants, in ET and the trader's zone."""

from __future__ import annotations

import argparse
from datetime import date, datetime
from zoneinfo import ZoneInfo

from cli.common import add_config_flags, fail, load
from domain.session import EASTERN, ExpirySession
from domain.stages import Thresholds
from gateways.calendar import MarketCalendar
from runtime.clock import WallClock

HELP = "show whether a date is a session, its close and the T-30/T-5/T-2 instants in ET and your zone"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("clock", help=HELP, description=HELP)
    parser.add_argument("--date", metavar="YYYY-MM-DD", help="the date to show (default: today's or the next session)")
    add_config_flags(parser)
    parser.set_defaults(handler=run)


def format_both(instant: datetime, zone: ZoneInfo) -> str:
    """``13:00 ET | 02:00 HKT (Sat 2026-11-28)``: the local date is shown when it differs from ET's."""
    eastern = instant.astimezone(EASTERN)
    local = instant.astimezone(zone)
    text = f"{eastern:%H:%M} ET | {local:%H:%M} {local:%Z}"
    if local.date() != eastern.date():
        text += f" ({local:%a %Y-%m-%d})"
    return text


def describe_session(session: ExpirySession, thresholds: Thresholds, zone: ZoneInfo) -> list[str]:
    kind = "early close" if session.early_close else "regular close"
    lines = [f"{session.day.isoformat()} ({session.day:%A}): expiration session, {kind}"]
    rows = [("close", session.close)]
    rows += [(stage.value, instant) for stage, instant in session.stage_instants(thresholds).items()
             if instant != session.close]
    rows.append(("exercise cut-off", session.exercise_cutoff))
    lines += [f"  {label:<17}{format_both(instant, zone)}" for label, instant in rows]
    lines += [f"  {'ex-dividend':<17}{dividend.describe()}: the last session to exercise for it "
              "(short calls at risk of early assignment tonight)" for dividend in session.ex_dividends]
    return lines


def run(args: argparse.Namespace) -> int:
    settings = load(args).settings
    zone = ZoneInfo(settings.trader_tz)
    calendar = MarketCalendar(dividends=settings.dividend_schedule)
    if args.date:
        try:
            day = date.fromisoformat(args.date)
        except ValueError:
            fail(f"clock: --date {args.date!r} is not a date; use YYYY-MM-DD, e.g. --date 2026-11-27", 2)
        session = calendar.session(day)
        if session is None:
            upcoming = calendar.next_session(day)
            print(f"{day.isoformat()} ({day:%A}): no session (weekend or exchange holiday); "
                  f"next expiration session {upcoming.day.isoformat()}, close {format_both(upcoming.close, zone)}")
            return 0
    else:
        session = calendar.session_for_now(WallClock().now())
    for line in describe_session(session, settings.thresholds, zone):
        print(line)
    return 0
