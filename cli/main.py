"""Entry point of the `cleanup-manager` console script."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import cli


def subcommand_modules() -> list:
    """Every ``cli/cmd_*.py`` module registers one subcommand."""
    names = sorted(info.name for info in pkgutil.iter_modules(cli.__path__) if info.name.startswith("cmd_"))
    return [importlib.import_module(f"cli.{name}") for name in names]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cleanup-manager",
        description="Options Cleanup Manager: watches option positions and closes those at risk of "
                    "exercise or assignment before the close of their expiration day.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in subcommand_modules():
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
