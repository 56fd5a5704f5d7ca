"""What every subcommand shares: the configuration flags, loading them, and exit codes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NoReturn

from config import ConfigError, LoadedSettings, load_settings

EXIT_CONFIG = 2
EXIT_UNREACHABLE = 3


def add_config_flags(parser: argparse.ArgumentParser, *, mode: bool = False) -> None:
    parser.add_argument("--config", type=Path, metavar="PATH",
                        help="user configuration file (JSON or TOML); also CLEANUP_CONFIG")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any setting for this run (repeatable); wins over file and environment")
    if mode:
        parser.add_argument("--mode", choices=["monitor", "active", "emergency"],
                            help="operating mode for this run (default from configuration: monitor)")


def flag_values(args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in getattr(args, "overrides", []) or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail_config(ConfigError("--set", item, "must look like KEY=VALUE, e.g. --set t5_moneyness=0.008"))
        values[key.strip()] = value.strip()
    if getattr(args, "mode", None):
        values["mode"] = args.mode
    values.update({key: value for key, value in extra.items() if value is not None})
    return values


def load(args: argparse.Namespace, **extra: Any) -> LoadedSettings:
    """Load and validate, or print one line and exit 2 before anything connects anywhere."""
    try:
        return load_settings(getattr(args, "config", None), flag_values(args, **extra))
    except ConfigError as error:
        fail_config(error)


def fail_config(error: ConfigError) -> NoReturn:
    print(str(error), file=sys.stderr)
    raise SystemExit(EXIT_CONFIG)


def fail(message: str, status: int = 1) -> NoReturn:
    print(message, file=sys.stderr)
    raise SystemExit(status)
