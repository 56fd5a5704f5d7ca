"""`cleanup-manager feed --check`: ask the configured Theta Terminal for SPY and the next expiration's options.

Prints SPY's quote and its age, and how many option quotes the Terminal has for the next
expiration session; exits 3 with one line when the Terminal is unreachable, disconnected from
ThetaData, or the subscription lacks the data. "No data yet" (472, e.g. before the open) is not
a failure of the Terminal: it is reported and the exit status stays 0.
"""

from __future__ import annotations

import argparse
import logging

from cli.common import EXIT_UNREACHABLE, add_config_flags, fail, load
from domain.feed_errors import FeedErrorKind
from gateways.calendar import MarketCalendar
from gateways.thetadata import ThetaFeedError, connect
from gateways.thetadata.errors import CONNECTION_ERROR, CONNECTION_REFUSED, TIMEOUT
from runtime.clock import WallClock

HELP = "check the ThetaData Terminal: SPY's quote, its age, and option quotes for the next expiration"
UNREACHABLE_CODES = (CONNECTION_REFUSED, CONNECTION_ERROR, TIMEOUT)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("feed", help=HELP, description=HELP)
    parser.add_argument("--check", action="store_true", required=True,
                        help="query the configured Terminal once and report (the only action for now)")
    add_config_flags(parser)
    parser.set_defaults(handler=run)


def failure_line(error: ThetaFeedError, url: str) -> str:
    """The one line a person needs: what is wrong and what to do."""
    if error.code in UNREACHABLE_CODES:
        return f"ThetaData Terminal not reachable at {url}: is the Terminal running and logged in?"
    if error.kind is FeedErrorKind.PERMISSION:
        return f"ThetaData Terminal at {url} refused for lack of permission: {error}"
    return f"ThetaData Terminal at {url} failed: {error}"


def run(args: argparse.Namespace) -> int:
    settings = load(args).settings
    # The client logs each error episode for the long-running service; here the one line below says it.
    logging.getLogger("gateways.thetadata").addHandler(logging.NullHandler())
    url, symbol = settings.thetadata_url, settings.symbol
    client = connect(url, settings.thetadata_timeout_seconds)
    clock = WallClock()
    session = MarketCalendar().session_for_now(clock.now())
    try:
        try:
            quote = client.stock_quote(symbol)
        except ThetaFeedError as error:
            if error.kind is not FeedErrorKind.NO_DATA:
                raise
            print(f"{symbol}: no quote yet ({error})")
        else:
            mid = f"{quote.mid:.2f}" if quote.mid is not None else "n/a"
            print(f"{symbol} bid {_money(quote.bid)} ask {_money(quote.ask)} mid {mid} at {quote.at:%Y-%m-%d %H:%M:%S} "
                  f"ET, age {quote.age_seconds(clock.now()):.1f} s (ThetaData {client.version} at {url})")
        try:
            count = len(client.option_quotes(symbol, session.day))
        except ThetaFeedError as error:
            if error.kind is not FeedErrorKind.NO_DATA:
                raise
            count = 0
        print(f"{count} option quotes for the {session.day.isoformat()} expiration")
    except ThetaFeedError as error:
        fail(failure_line(error, url), EXIT_UNREACHABLE)
    finally:
        client.close()
    return 0


def _money(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "none"
