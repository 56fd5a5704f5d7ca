"""The morning check through the actor tree over the fake IB gateway: the previous session's evening record in the
audit store, this morning's positions (the options gone, the shares IB delivered in the STK stream), and what the
tree makes of them: audited, alerted with exposure and margin, the trader's own shares left out."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from cli.main import main
from domain.alerts import Severity
from domain.audit import ActionKind
from domain.evening import EveningRecord
from domain.model import OptionContract, Position, StockPosition
from domain.report import daily_summaries, narrative
from domain.session import EASTERN, ExpirySession
from gateways.calendar import MarketCalendar
from tests.fakes.ib_gateway import FakeContract, FakePosition, GatewayScript
from tests.support.ib_tree import CLOSE, SESSION, SHORT_PUT, Alerts, audit_store, run_tree

MORNING_DAY = date(2026, 11, 27)  # the day after Thanksgiving: the previous session is Wednesday the 25th
MORNING = MarketCalendar().session(MORNING_DAY)
FOUR_AM = datetime(2026, 11, 27, 4, 0, tzinfo=EASTERN)
LONG_CALL = "SPY 20261125 650C"


def _evening(tmp_path, stock: tuple[StockPosition, ...] = (StockPosition("SPY", 100, 600.0),)) -> None:
    store = audit_store(tmp_path)
    store.insert_evenings([EveningRecord(
        SESSION.day, CLOSE + timedelta(seconds=30),
        (Position(OptionContract.parse_key(SHORT_PUT), -2, 1.2), Position(OptionContract.parse_key(LONG_CALL), 1, 0.1)),
        stock, {"SPY": 639.0})])
    store.close()


def _morning(tmp_path, shares: int, alerts: Alerts, previous: ExpirySession | None = SESSION, **changes):
    changes = {"dispose_assignments": "alert", **changes}  # the tree support runs the seed's rules: "off"
    positions = [FakePosition(FakeContract.stock("SPY"), shares, 620.0)] if shares else []
    assert MORNING is not None
    return run_tree(tmp_path, GatewayScript(positions=positions), start=FOUR_AM, seconds=5, alerts=alerts,
                    session=MORNING, previous=previous, **changes)


def _morning_records(tmp_path):
    return audit_store(tmp_path).actions(FOUR_AM, FOUR_AM + timedelta(hours=1))


def test_the_assigned_short_put_shows_as_delivered_shares_with_exposure_and_margin(tmp_path):
    _evening(tmp_path)
    alerts = Alerts()
    _morning(tmp_path, 300, alerts)  # 100 of the trader's own, 200 from the assigned 641P
    records = _morning_records(tmp_path)
    [delivery] = [r for r in records if r.action is ActionKind.DELIVERY]
    assert (delivery.symbol, delivery.quantity) == ("SPY", 200)
    assert delivery.details["exposure"] == 200 * 639.0 and delivery.details["margin"] == 200 * 639.0 * 0.5
    fates = {f"{r.symbol} {r.expiry:%Y%m%d} {r.strike:g}{r.right}": r.details["fate"]
             for r in records if r.action is ActionKind.SETTLEMENT}
    assert fates == {SHORT_PUT: "assigned", LONG_CALL: "expired worthless"}
    [summary] = [r for r in records if r.action is ActionKind.MORNING_CHECK]
    assert summary.success and summary.details["delivered"] == {"SPY": 200}
    [alert] = [a for a in alerts.sent if a.key == "morning:2026-11-25"]
    assert alert.severity is Severity.CRITICAL
    assert "+200 shares (long), exposure $127,800, margin $63,900" in alert.body
    [day] = daily_summaries(records)  # the daily report of the morning's session day
    assert "  morning check: 2026-11-25 expiration delivered +200 SPY: exposure $127,800, margin $63,900 " \
           "(Reg T initial, 50% of the value)" in narrative(day)


def test_the_traders_own_shares_are_not_delivered_ones(tmp_path):
    _evening(tmp_path, stock=(StockPosition("SPY", 300, 600.0),))
    alerts = Alerts()
    _morning(tmp_path, 300, alerts)  # the put's assignment did not happen (or was sold): nothing new
    assert not [r for r in _morning_records(tmp_path) if r.action is ActionKind.DELIVERY]
    [alert] = [a for a in alerts.sent if a.key == "morning:2026-11-25"]
    assert alert.severity is Severity.INFO and "no shares came from them" in alert.body


def test_without_an_evening_record_the_morning_says_what_to_check_by_hand(tmp_path):
    alerts = Alerts()
    _morning(tmp_path, 300, alerts)
    [summary] = [r for r in _morning_records(tmp_path) if r.action is ActionKind.MORNING_CHECK]
    assert summary.success is False
    [alert] = [a for a in alerts.sent if a.key == "morning:2026-11-25"]
    assert "TWS (Portfolio)" in alert.body


def test_off_audits_the_check_but_alerts_nothing(tmp_path):
    _evening(tmp_path)
    alerts = Alerts()
    _morning(tmp_path, 300, alerts, dispose_assignments="off")
    assert [r.quantity for r in _morning_records(tmp_path) if r.action is ActionKind.DELIVERY] == [200]
    assert not [a for a in alerts.sent if a.key.startswith("morning:")]


def test_in_close_mode_the_delivered_shares_are_sold_at_the_open_through_ib(tmp_path):
    _evening(tmp_path)
    alerts = Alerts()
    assert MORNING is not None
    open_at = datetime(2026, 11, 27, 9, 29, 58, tzinfo=EASTERN)
    script = GatewayScript(positions=[FakePosition(FakeContract.stock("SPY"), 300, 620.0)])
    gateway, _ = run_tree(tmp_path, script, start=open_at, seconds=20, alerts=alerts, session=MORNING,
                          previous=SESSION, dispose_assignments="close")
    sent = [s.fields for s in gateway.orders_sent()]
    order = sent[0]
    # the gateway never fills it here: one order (one id), walked down from the bid, within the band
    assert len({f[1] for f in sent}) == 1 and len(sent) >= 3
    limits = [float(f[19]) for f in sent]
    assert limits == sorted(limits, reverse=True) and min(limits) >= limits[0] * (1 - 0.005) - 0.01
    assert (order[3], order[4], order[16], order[17], order[18]) == ("SPY", "STK", "SELL", "200", "LMT")
    assert order[26] == "CLN-20261125-SPY-STK-DISPOSE"
    disposals = [r for r in audit_store(tmp_path).actions(open_at, open_at + timedelta(minutes=5))
                 if r.action is ActionKind.DISPOSAL]
    assert disposals[0].quantity == -200 and disposals[0].details["held"] == 300


def test_cleanup_manager_report_shows_the_mornings_outcome(tmp_path, monkeypatch, capsys):
    _evening(tmp_path)
    _morning(tmp_path, 300, Alerts())
    monkeypatch.delenv("CLEANUP_CONFIG", raising=False)
    monkeypatch.delenv("CLEANUP_DB_DSN", raising=False)
    monkeypatch.setenv("CLEANUP_DATA_DIR", str(tmp_path))
    assert main(["report", "--date", "2026-11-27"]) == 0
    out = capsys.readouterr().out
    assert "morning check: 2026-11-25 expiration delivered +200 SPY: exposure $127,800, margin $63,900" in out
