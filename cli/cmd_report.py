"""`cleanup-manager report [--date D] [--days N]`: the daily cleanup narrative from the audit store."""

from __future__ import annotations

import argparse
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cli.cmd_db import describe_target
from cli.common import EXIT_UNREACHABLE, add_config_flags, fail, load
from domain.report import daily_summaries, narrative
from domain.session import EASTERN
from gateways.audit import StoreUnavailable, open_store
from runtime.clock import WallClock

HELP = "print the daily cleanup narrative: actions, success rate, contracts closed, exercise avoided, P&L, failures"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("report", help=HELP, description=HELP)
    parser.add_argument("--date", metavar="YYYY-MM-DD",
                        help="last session day to report (New York date; default: today in New York)")
    parser.add_argument("--days", type=int, default=1, metavar="N", help="number of days ending at --date (default 1)")
    add_config_flags(parser)
    parser.set_defaults(handler=run)


def day_bounds(first: date, last: date, zone: ZoneInfo = EASTERN) -> tuple[datetime, datetime]:
    """[start of first, start of the day after last) in the session's zone."""
    return datetime.combine(first, time(), zone), datetime.combine(last + timedelta(days=1), time(), zone)


def run(args: argparse.Namespace) -> int:
    settings = load(args).settings
    if args.days < 1:
        fail(f"report: --days {args.days} must be at least 1", 2)
    try:
        last = date.fromisoformat(args.date) if args.date else WallClock().now().astimezone(EASTERN).date()
    except ValueError:
        fail(f"report: --date {args.date!r} is not a date; use YYYY-MM-DD, e.g. --date 2026-11-27", 2)
    first = last - timedelta(days=args.days - 1)
    try:
        store = open_store(settings)
        try:
            records = store.actions(*day_bounds(first, last))
        finally:
            store.close()
    except StoreUnavailable as error:
        fail(f"report: cannot read the audit database ({describe_target(settings)}): {error}; "
             "if it is new, run `cleanup-manager db migrate`", EXIT_UNREACHABLE)
    summaries = daily_summaries(records, days=[first + timedelta(days=n) for n in range(args.days)])
    print(f"Cleanup report {first.isoformat()} to {last.isoformat()} (session days, New York), "
          f"from {describe_target(settings)}")
    for summary in summaries:
        for line in narrative(summary):
            print(line)
    if len(summaries) > 1:
        total_contracts = sum(s.contracts_closed for s in summaries)
        total_notional = sum(s.exercise_avoided for s in summaries)
        total_pnl = round(sum(s.pnl_impact for s in summaries), 2)
        print(f"Total: {sum(s.actions for s in summaries)} actions, {total_contracts} contracts closed, "
              f"${total_notional:,.2f} exercise avoided, P&L impact {total_pnl:+,.2f}")
    return 0
