"""`cleanup-manager check-config`: the effective configuration and where each value came from."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.common import add_config_flags, load

HELP = "print the effective configuration, where each value came from, secrets masked"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("check-config", help=HELP, description=HELP)
    add_config_flags(parser, mode=True)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    loaded = load(args)
    table = Table(title="Effective configuration", title_justify="left")
    for column in ("section", "key", "value", "from"):
        table.add_column(column)
    for section, key, value, origin in loaded.describe():
        # escaped: rich would read "[thresholds]" (or a value in brackets) as markup and print nothing
        table.add_row(*(escape(cell) for cell in (f"[{section}]", key, value, origin)))
    Console(width=120).print(table)
    print("configuration OK")
    return 0
