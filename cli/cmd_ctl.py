"""`cleanup-manager ctl COMMAND ...`: command the running service through its local control socket."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cli.common import EXIT_UNREACHABLE, add_config_flags, fail, load
from domain.commands import format_status
from runtime.control_socket import ControlSocketError, send_command

HELP = "send a command to the running service: status, mode X, kill, resume, close CONTRACT, set KEY VALUE, help"
EXIT_REFUSED = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ctl", help=HELP, description=HELP + ". Permission to use the control socket "
                                   "(its owner and group) decides who may.")
    parser.add_argument("words", nargs="+", metavar="COMMAND", help="the command and its arguments, "
                        "e.g. ctl status, ctl mode emergency, ctl close SPY 20261127 635C")
    parser.add_argument("--socket", type=Path, metavar="PATH",
                        help="control socket (default: control_socket setting, else <data_dir>/control.sock)")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS", help="wait this long for a reply")
    parser.add_argument("--json", action="store_true", help="print the reply as JSON (for scripts)")
    add_config_flags(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Read the configuration only when it is needed to find the socket.
    path = args.socket or load(args).settings.control_socket_path
    text = " ".join(args.words)
    try:
        reply = send_command(path, text, timeout=args.timeout)
    except ControlSocketError as error:
        fail(str(error), EXIT_UNREACHABLE)
    if args.json:
        print(json.dumps(reply.to_json_dict(), indent=2, default=str))
    elif reply.ok and args.words[0].lstrip("/").lower() == "status" and reply.data:
        print(format_status(reply.data))
    elif reply.ok:
        print(reply.text)
    else:
        print(f"refused: {reply.text}", file=sys.stderr)
    return 0 if reply.ok else EXIT_REFUSED
