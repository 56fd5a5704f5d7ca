"""`cleanup-manager ...` on a chosen kind of day, whatever today is: the entry point of tests that start `run`.

`run` asks the exchange calendar whether today is a session and idles out on a weekend or holiday,
so a test of either path would pass or fail by the date. ``python -m tests.support.run_on_day
session run ...`` plans a session that closes in 30 minutes (wall time: the service's clock);
``holiday`` asks the real plan about Thanksgiving 2026. The rest of `run` is the real thing.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

import cli.cmd_run
from cli.main import main
from domain.session import EASTERN, ExpirySession
from runtime.service_window import Action, ServicePlan, service_plan

THANKSGIVING = datetime(2026, 11, 26, 10, 0, tzinfo=EASTERN)


def session_now(now: datetime, calendar: object) -> ServicePlan:
    close = now + timedelta(minutes=30)
    session = ExpirySession(close.astimezone(EASTERN).date(), close, close)
    return ServicePlan(Action.RUN, now + timedelta(hours=1), "a session day (tests.support.run_on_day)", session)


def on_thanksgiving(now: datetime, calendar) -> ServicePlan:
    return service_plan(THANKSGIVING, calendar)


if __name__ == "__main__":
    day, *argv = sys.argv[1:]
    cli.cmd_run.service_plan = {"session": session_now, "holiday": on_thanksgiving}[day]
    sys.exit(main(argv))
