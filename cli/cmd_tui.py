"""`cleanup-manager tui`: the terminal UI, attached to a running service's control socket."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.common import EXIT_UNREACHABLE, add_config_flags, fail, load
from runtime.control_socket import ControlSocketError, send_command

HELP = "open the terminal UI (status, history, control panel) on the running service or simulation"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tui", help=HELP, description=HELP + ". It is a client of the control "
                                   "socket: what it may do, your user may do with `ctl`. See docs/tui.md.")
    parser.add_argument("--socket", type=Path, metavar="PATH",
                        help="control socket (default: control_socket setting, else <data_dir>/control.sock)")
    add_config_flags(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load(args).settings  # also locates the audit store for the history view
    path = args.socket or settings.control_socket_path
    try:  # fail fast with one line, before the screen is taken over
        send_command(path, "help", timeout=5.0)
    except ControlSocketError as error:
        fail(f"tui: {error}", EXIT_UNREACHABLE)
    from tui.app import CleanupApp  # textual loads only when the UI really starts
    from tui.client import SocketClient

    CleanupApp(SocketClient(path, settings), trader_tz=settings.trader_tz, subtitle=str(path)).run()
    return 0
