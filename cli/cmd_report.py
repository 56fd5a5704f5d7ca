"""`cleanup-manager report [--date D] [--days N] | --run RUN [--store STORE]`: the daily cleanup narrative.

Without --run: the service's own records (a simulation written to the same store is not trading).
With --run: one simulation run's records, whatever their dates, from that run's store.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cli.cmd_db import describe_target
from cli.common import EXIT_UNREACHABLE, add_config_flags, fail, load
from config.schema import Settings
from domain.report import DaySummary, daily_summaries, narrative
from domain.session import EASTERN
from gateways.audit import StoreUnavailable, open_store
from gateways.audit.factory import open_target
from runtime.clock import WallClock
from simulation.runs import run_store

HELP = "print the daily cleanup narrative: actions, success rate, contracts closed, exercise avoided, P&L, failures"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("report", help=HELP, description=HELP)
    parser.add_argument("--date", metavar="YYYY-MM-DD",
                        help="last session day to report (New York date; default: today in New York)")
    parser.add_argument("--days", type=int, default=1, metavar="N", help="number of days ending at --date (default 1)")
    parser.add_argument("--run", metavar="RUN_ID", help="one simulation run instead (its id, as `simulate` printed it)")
    parser.add_argument("--store", metavar="STORE", help="with --run: the store that run wrote to, if it was named "
                        "(default: simulation_store, else the run's own SQLite file under simulation_dir)")
    add_config_flags(parser)
    parser.set_defaults(handler=run)


def day_bounds(first: date, last: date, zone: ZoneInfo = EASTERN) -> tuple[datetime, datetime]:
    """[start of first, start of the day after last) in the session's zone."""
    return datetime.combine(first, time(), zone), datetime.combine(last + timedelta(days=1), time(), zone)


def run(args: argparse.Namespace) -> int:
    settings = load(args).settings
    if args.run:
        return _report_run(settings, args.run, args.store)
    if args.store:
        fail("report: --store names a simulation's store and needs --run RUN_ID", 2)
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
    _print(summaries)
    return 0


def _report_run(settings: Settings, run_id: str, named: str | None) -> int:
    target = run_store(settings, run_id, named)
    if target.sqlite_path is not None and not target.sqlite_path.exists():
        fail(f"report: no audit file for run {run_id!r} ({target.sqlite_path}); pass the id `simulate` printed, "
             "and --store if that run was given one", 2)
    try:
        store = open_target(target)
        try:
            records = store.run_actions(run_id)
        finally:
            store.close()
    except StoreUnavailable as error:
        fail(f"report: cannot read the audit store of run {run_id} ({target.describe()}): {error}", EXIT_UNREACHABLE)
    if not records:
        fail(f"report: run {run_id!r} has no records in {target.describe()}", 2)
    print(f"Cleanup report of simulation run {run_id} (session days, New York), from {target.describe()}")
    _print(daily_summaries(records))
    return 0


def _print(summaries: list[DaySummary]) -> None:
    for summary in summaries:
        for line in narrative(summary):
            print(line)
    if len(summaries) > 1:
        total_contracts = sum(s.contracts_closed for s in summaries)
        total_notional = sum(s.exercise_avoided for s in summaries)
        total_pnl = round(sum(s.pnl_impact for s in summaries), 2)
        print(f"Total: {sum(s.actions for s in summaries)} actions, {total_contracts} contracts closed, "
              f"${total_notional:,.2f} exercise avoided, P&L impact {total_pnl:+,.2f}")
