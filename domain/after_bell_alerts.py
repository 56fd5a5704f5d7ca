"""The after-bell watch's alerts (``domain.after_bell``): the first report, the crossing updates, the final one."""

from __future__ import annotations

from datetime import date

from domain.after_bell import Crossing, ReportKind, WatchLine, WatchReport
from domain.alerts import Alert, Severity
from domain.session import EASTERN

_FOOTER = ("Holders may exercise until 17:30 ET. A long option in the money is exercised by exception unless you "
           "send IB a contrary instruction before its cut-off; for a short one, expect the share position at the "
           "next session's open.")


def _line(line: WatchLine) -> str:
    symbol = line.contract.symbol
    parts = []
    if line.price_at_close is not None and line.moneyness_at_close is not None:
        parts.append(f"{symbol} {line.price_at_close:.2f} at the close, moneyness {line.moneyness_at_close:+.2%}")
    if line.after_hours is not None and line.after_hours.mid is not None:
        parts.append(f"after hours {line.after_hours.mid:.2f} at {line.after_hours.at.astimezone(EASTERN):%H:%M:%S} ET")
    elif line.price_at_close is not None:
        parts.append("no after-hours price yet")
    where = f"{', '.join(parts)}: " if parts else ""
    return f"- {line.contract.key} qty {line.quantity:+d} ({line.side}): {where}{line.outlook.value}"


def _tail(report: WatchReport) -> list[str]:
    lines = []
    if report.structures:
        lines.append("Of them, legs of one structure (exercise and assignment net out):")
        lines += [f"- {s.name}: delivers {s.shares:+d} shares net" for s in report.structures]
    if report.delivery:
        lines.append("As things stand, at the next open: "
                     + ", ".join(f"{symbol} {shares:+d} shares" for symbol, shares in report.delivery.items()))
    return lines


def first_report(day: date, report: WatchReport) -> Alert:
    """After the bell, once: every expiring position still open and what is likely to happen to it."""
    n = len(report.lines)
    body = [f"{n} expiring position(s) still open after the close on {day.isoformat()}:",
            *(_line(line) for line in report.lines), *_tail(report), _FOOTER,
            "Watched until 17:30 ET: an update when the after-hours price crosses a short's strike, and a last "
            "report at 17:29 ET."]
    return Alert(Severity.CRITICAL, f"{n} expiring position(s) open at the close", "\n".join(body),
                 f"open-at-bell:{day.isoformat()}")


def _crossing(crossing: Crossing) -> str:
    way = "into the money" if crossing.into_the_money else "back out of the money"
    return f"{crossing.contract.key} {way} ({crossing.contract.symbol} {crossing.price:.2f})"


def crossing_update(day: date, report: WatchReport) -> Alert:
    """The after-hours price crossed the strike of a short still open: into the money is critical."""
    into = any(c.into_the_money for c in report.crossings)
    at = report.at.astimezone(EASTERN)
    body = [f"At {at:%H:%M:%S} ET the after-hours price crossed: " + "; ".join(map(_crossing, report.crossings)) + ".",
            "Expiring positions still open:", *(_line(line) for line in report.lines), *_tail(report), _FOOTER]
    title = ("After hours: a short is now in the money, assignment likely" if into
             else "After hours: a short is back out of the money")
    return Alert(Severity.CRITICAL if into else Severity.WARNING, title, "\n".join(body),
                 f"after-bell-crossing:{day.isoformat()}:{report.number}")


def final_report(day: date, report: WatchReport) -> Alert:
    """A minute before the holders' cut-off: the shorts in the money flagged, the shares to expect."""
    expected = report.expect_assignment
    at_risk = expected or any(line.outlook.at_risk for line in report.lines)
    if expected:
        title = f"17:30 ET: expect assignment of {len(expected)} short position(s)"
        head = ("Short options in the money at the close or after hours are flagged EXPECT ASSIGNMENT: their "
                "holders may exercise until 17:30 ET.")
    else:
        title = "17:30 ET: no assignment expected"
        head = "No short option is in the money at the close or after hours."
    body = [head, *(_line(line) for line in report.lines), *_tail(report),
            "Check the account at the next open: the share positions of exercises and assignments appear then."]
    return Alert(Severity.CRITICAL if at_risk else Severity.INFO, title, "\n".join(body),
                 f"after-bell-final:{day.isoformat()}")


def watch_alert(day: date, report: WatchReport) -> Alert:
    if report.kind is ReportKind.FIRST:
        return first_report(day, report)
    if report.kind is ReportKind.CROSSING:
        return crossing_update(day, report)
    return final_report(day, report)
