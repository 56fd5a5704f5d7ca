"""`cleanup-manager db migrate`: create or update the audit schema (PostgreSQL with a DSN, else SQLite)."""

from __future__ import annotations

import argparse

from cli.common import EXIT_UNREACHABLE, add_config_flags, fail, load
from config.schema import Settings
from gateways.audit import StoreUnavailable, open_store
from gateways.audit.factory import target_of

HELP = "audit database: `db migrate` applies the sql/ migrations in order (safe to run again)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("db", help=HELP, description=HELP)
    actions = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    migrate = actions.add_parser("migrate", help="apply pending migrations and print their names")
    add_config_flags(migrate)
    migrate.set_defaults(handler=run)


def describe_target(settings: Settings) -> str:
    """Where the audit trail lives, fit to print (the password is never part of it)."""
    return target_of(settings).describe()


def run(args: argparse.Namespace) -> int:
    settings = load(args).settings
    target = describe_target(settings)
    try:
        store = open_store(settings)
        try:
            applied = store.migrate()
        finally:
            store.close()
    except StoreUnavailable as error:
        # StoreUnavailable messages are built password-free (gateways.audit.factory.redactor).
        fail(f"db migrate: cannot reach the audit database ({target}): {error}", EXIT_UNREACHABLE)
    if applied:
        for name in applied:
            print(f"applied {name}")
        print(f"{target}: {len(applied)} migration(s) applied")
    else:
        print(f"{target}: up to date, nothing to apply")
    return 0
