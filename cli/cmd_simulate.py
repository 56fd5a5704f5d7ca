"""`cleanup-manager simulate`: a simulated expiration afternoon through the real actor tree."""

from __future__ import annotations

import argparse
import logging
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from cli.common import add_config_flags, fail, fail_config, load
from config import ConfigError
from domain.alerts import Alert, Severity
from domain.session import EASTERN
from gateways.metrics import Metrics, start_metrics_server
from runtime.control import control_plane
from runtime.control_socket import ControlSocketError, clear_stale_socket
from simulation import runner
from simulation.scenario import ScenarioError, load_scenario
from simulation.summary import print_summary, write_json

HELP = ("run a simulated expiration afternoon (simulated market, paper broker, an audit store of its own) "
        "and summarise it")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("simulate", help=HELP, description=HELP + ". With no arguments it runs the "
                                   "built-in scenario; see simulation/README.md for the scenario format.")
    parser.add_argument("--scenario", type=Path, metavar="FILE", help="scenario JSON file (default: built-in)")
    parser.add_argument("--date", metavar="YYYY-MM-DD", help="run the scenario on this session instead")
    parser.add_argument("--speed", type=float, default=0.0, metavar="X",
                        help="virtual seconds per real second until the settlement after the bell, then as fast as "
                             "possible (default 0: as fast as possible throughout)")
    parser.add_argument("--through-next-open", action="store_true",
                        help="after the bell, also run the next session's morning: the check of what was exercised "
                             "or assigned (delivered by the paper broker) and, with dispose_assignments=close, the "
                             "disposal at the 09:30 ET open")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the summary as JSON")
    parser.add_argument("--quiet", action="store_true", help="no live progress, summary only")
    parser.add_argument("--tui", action="store_true", help="watch and control it in the terminal UI "
                        "(default speed 20; logs go to the run's directory, simulate.log); see docs/tui.md")
    parser.add_argument("--store", metavar="STORE", help="audit store for this run: a PostgreSQL DSN or a SQLite "
                        "file (setting simulation_store; default: a SQLite file in the run's own directory "
                        "under simulation_dir, never db_dsn)")
    add_config_flags(parser, mode=True)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    loaded = load(args, simulation_store=args.store)
    console = Console()
    try:
        day = date.fromisoformat(args.date) if args.date else None
    except ValueError:
        fail(f"simulate: --date {args.date!r} is not a date; use YYYY-MM-DD", 2)
    try:
        scenario = load_scenario(args.scenario, day)
        settings = runner.simulation_settings(loaded.settings, scenario, args.mode)
    except ScenarioError as error:
        fail(str(error), 2)
    except ConfigError as error:
        fail_config(error)
    try:  # before any actor starts: a run that cannot serve its control socket must not begin
        clear_stale_socket(settings.control_socket_path)
    except ControlSocketError as error:
        fail(f"simulate: {error}; give this run its own --set data_dir=DIR (or control_socket=PATH)", 2)
    if args.tui:  # the UI owns the terminal: the simulation runs on a thread, its logs go to a file
        from tui.attach import simulate_with_tui  # textual is imported only when asked for

        result = simulate_with_tui(scenario, settings, args.speed)
        print_summary(result, settings.trader_tz, console)
        if args.json:
            write_json(result, settings.trader_tz, args.json)
        return result.exit_code
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        run = runner.prepare_run(settings)
    except OSError as error:
        fail(f"simulate: cannot create the run's directory under {settings.simulation_dir}: {error.strerror}; "
             "set simulation_dir to a writable directory", 1)
    console.print(f"simulating [bold]{scenario.name}[/bold] on {scenario.day} in {settings.mode.value} mode "
                  f"(run {run.run_id}, audit: {run.store.describe()})")
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                        console=console, transient=True, disable=args.quiet)

    def show_alert(alert: Alert) -> None:
        if not args.quiet and alert.severity is not Severity.INFO:
            progress.console.print(f"  [{_colour(alert)}]{alert.title}[/] {alert.body.splitlines()[0][:90]}")

    metrics = Metrics()
    try:
        with progress, start_metrics_server(metrics, settings.metrics_host, settings.metrics_port):
            task = progress.add_task("starting", total=1.0)
            result = runner.run_simulation(
                scenario, settings, speed=args.speed, on_alert=show_alert, metrics=metrics, run=run,
                through_next_open=args.through_next_open,
                on_started=lambda service: control_plane(service, settings),
                on_progress=lambda p: progress.update(
                    task, completed=p.fraction, description=f"{p.now.astimezone(EASTERN):%H:%M:%S} ET {p.stage:<6}"))
    except ScenarioError as error:
        fail(str(error), 2)
    except OSError as error:  # e.g. the metrics port or control socket already taken by another run
        fail(f"simulate: {error}; is another cleanup-manager running? (see --set metrics_port=0)", 1)
    print_summary(result, settings.trader_tz, console)
    if args.json:
        write_json(result, settings.trader_tz, args.json)
        console.print(f"summary written to {args.json}")
    return result.exit_code


def _colour(alert: Alert) -> str:
    return {Severity.CRITICAL: "bold red", Severity.WARNING: "yellow"}.get(alert.severity, "")

