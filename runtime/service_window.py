"""Should a freshly started service run today, and until when? A pure decision for `cleanup-manager run`.

systemd's timer starts the service every weekday morning (deploy/cleanup-manager.timer), and again
at boot if a start was missed (Persistent=true). The timer cannot know exchange holidays or how long
the day's work lasts, so the service decides here:

- on a session day, before the exercise cut-off (17:30 ET, the same on early-close days, because
  holders may still exercise after an early close): run until the cut-off, then exit cleanly. The run
  starts with the morning check of the previous session (``previous``: what its expiration exercised
  or assigned overnight, across weekends and holidays) in the 04:00-09:30 ET window before the open;
- on a weekend, an exchange holiday, or after today's cut-off: exit cleanly at once (exit 0, so
  Restart=on-failure does not bring it back), saying when the next session's work starts.

`run` should still send READY=1 (with the reason as STATUS) before an idle exit, so systemd records
a clean start/stop rather than a start-up that never became ready.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Protocol

from domain.session import EASTERN, ExpirySession

# When the timer starts the service (deploy/cleanup-manager.timer OnCalendar; a test keeps them equal).
# 04:00 ET (17:00 HKT in US winter): IB has processed the night's exercises and assignments, and the morning
# check has until the 09:30 open to report the shares they delivered (and, if asked, sell them at the open).
SERVICE_START_ET = time(4, 0)


class SessionCalendar(Protocol):
    def session(self, day: date) -> ExpirySession | None: ...

    def next_session(self, day: date) -> ExpirySession: ...

    def previous_session(self, day: date) -> ExpirySession: ...


class Action(StrEnum):
    RUN = "run"
    IDLE_EXIT = "idle_exit"


@dataclass(frozen=True)
class ServicePlan:
    action: Action
    until: datetime  # RUN: stop at this instant; IDLE_EXIT: when the next day's work starts
    reason: str
    session: ExpirySession | None  # the session being guarded (RUN) or the next one (IDLE_EXIT)
    previous: ExpirySession | None = None  # RUN: the session whose expiration the morning check looks at


def service_plan(now: datetime, calendar: SessionCalendar) -> ServicePlan:
    if now.tzinfo is None:
        raise ValueError("service_plan needs a timezone-aware instant")
    today = now.astimezone(EASTERN).date()
    session = calendar.session(today)
    if session is not None and now < session.exercise_cutoff:
        close = "early close" if session.early_close else "close"
        return ServicePlan(
            Action.RUN, session.exercise_cutoff,
            f"session {today.isoformat()}: {close} {_et(session.close)}, "
            f"running until the exercise cut-off {_et(session.exercise_cutoff)}",
            session, calendar.previous_session(today))
    upcoming = calendar.next_session(today + timedelta(days=1))
    if session is not None:
        why = f"today's expiration work ended at the exercise cut-off {_et(session.exercise_cutoff)}"
    elif today.weekday() >= 5:
        why = f"{today.isoformat()} is a {today:%A}: no session"
    else:
        why = f"{today.isoformat()} ({today:%A}) is an exchange holiday: no session"
    start = datetime.combine(upcoming.day, SERVICE_START_ET, tzinfo=EASTERN)
    return ServicePlan(Action.IDLE_EXIT, start,
                       f"{why}; nothing to do until {upcoming.day.isoformat()} {_et(start)}", upcoming)


def _et(instant: datetime) -> str:
    return f"{instant.astimezone(EASTERN):%H:%M} ET"
