"""The after-bell watch through the actor tree and the real ib_async client, on IB's own after-hours quotes from
the fake IB Gateway: the first report with the after-hours price, an update per crossing, the 17:29 ET flag."""

from __future__ import annotations

import re
from datetime import timedelta

from domain.alerts import Severity
from domain.audit import ActionKind
from domain.mode import Mode
from gateways.ib import IBPriceSource
from tests.fakes.ib_gateway import FakeContract, FakeIBGateway, FakePosition, GatewayScript, QuoteStep
from tests.support.ib_tree import CALL, CLOSE, SESSION, SHORT_PUT, Alerts, audit_store, run_tree

AFTER_HOURS_DROP = CLOSE + timedelta(seconds=5)  # SPY 641.50 -> 640.50: the short 641P goes in the money
RECOVERY = CLOSE + timedelta(seconds=45)  # back to 641.50: out by 0.08 %, beyond the hysteresis (0.05 %)
SECOND_DROP = CLOSE + timedelta(minutes=20)
FAST_AFTER = CLOSE + timedelta(minutes=1)


def held() -> GatewayScript:
    return GatewayScript(
        positions=[FakePosition(FakeContract.option(CALL), 2, 180.0),
                   FakePosition(FakeContract.option(SHORT_PUT), -1, 90.0)],
        price_path=[QuoteStep(0, "SPY", 641.49, 641.51, 641.50),
                    QuoteStep(0, CALL, 3.40, 3.60, 3.50, implied_vol=0.12),
                    QuoteStep(0, SHORT_PUT, 0.20, 0.30, 0.25, implied_vol=0.12)])


def ib_prices(settings, broker, clock, alert):
    return IBPriceSource(broker, clock)


def spy_after_hours(gateway: FakeIBGateway, service) -> bool:
    """IB streams SPY after the bell: the test moves it at given instants of the service's clock."""
    now = service.clock.now()
    if now in (AFTER_HOURS_DROP, SECOND_DROP):
        gateway.set_quote("SPY", 640.49, 640.51, 640.50)
    elif now == RECOVERY:
        gateway.set_quote("SPY", 641.49, 641.51, 641.50)
    return False


def test_on_ib_quotes_the_watch_reports_at_the_bell_updates_on_each_crossing_and_flags_the_short(tmp_path):
    sent = Alerts()
    # A second a step to a minute after the bell, then a minute: every instant the test moves SPY is a step.
    run_tree(tmp_path, held(), start=CLOSE - timedelta(seconds=20),
             seconds=int((SESSION.exercise_cutoff - CLOSE).total_seconds()) + 20, mode=Mode.MONITOR,
             prices=ib_prices, alerts=sent, until=spy_after_hours,
             step=lambda now: 1 if now < FAST_AFTER else 60, lapse_longs=True)
    watch = [a for a in sent.sent if a.key.startswith(("open-at-bell:", "after-bell-"))]
    assert [a.key for a in watch] == ["open-at-bell:2026-11-25", "after-bell-crossing:2026-11-25:1",
                                      "after-bell-crossing:2026-11-25:2", "after-bell-final:2026-11-25"], watch
    first, back_out, back_in, final = watch
    lines = first.body.splitlines()
    pattern = (r"- SPY 20261125 641P qty -1 \(short\): SPY 641\.50 at the close, moneyness -0\.08%, "
               r"after hours 640\.50 at 16:00:[23]\d ET: assignment likely")  # IB's after-hours quote, not the close's
    assert any(re.fullmatch(pattern, line) for line in lines), first.body
    assert any(line.startswith("- SPY 20261125 638C qty +2 (long): SPY 641.50 at the close")
               and line.endswith("exercise likely") for line in lines), first.body
    assert back_out.severity is Severity.WARNING and "641P back out of the money (SPY 641.50)" in back_out.body
    assert back_in.severity is Severity.CRITICAL and "641P into the money (SPY 640.50)" in back_in.body
    assert final.title == "17:30 ET: expect assignment of 1 short position(s)"
    assert "SPY +300 shares" in final.body  # +200 from the long calls' exercise, +100 from the put's assignment
    trail = audit_store(tmp_path).actions(CLOSE, SESSION.exercise_cutoff)
    reports = [a for a in trail if a.action is ActionKind.WARN and a.reason.startswith("after the bell")]
    out, again, last = (r.at - CLOSE for r in reports)
    assert timedelta(seconds=45) < out <= timedelta(seconds=50)  # the next looks after IB's quote arrived
    assert timedelta(minutes=20) < again <= timedelta(minutes=21) and last == timedelta(minutes=89)
