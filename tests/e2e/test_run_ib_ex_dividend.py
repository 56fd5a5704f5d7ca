"""The ex-dividend guard through the actor tree over the real ib_async client and the fake IB Gateway."""

from dataclasses import replace
from datetime import date, datetime, timedelta

from domain.ex_dividend import Dividend
from domain.mode import Mode
from domain.session import EASTERN
from gateways.sim_market import SimulatedMarket, SpotScript
from tests.fakes.ib_gateway import FakeContract, FakePosition, GatewayScript, OrderBehaviour
from tests.support.ib_tree import SESSION, Alerts, audited, audited_fills, placed, run_tree

# The session before an ex-date (the calendar would say so from the dividend schedule).
EVE = replace(SESSION, ex_dividends=(Dividend("SPY", date(2026, 11, 27), 2.0),))
DEEP_CALL = "SPY 20261218 600C"  # SPY at 641: 41 in the money, a few cents of time value, expires in three weeks
T30 = datetime(2026, 11, 25, 15, 30, tzinfo=EASTERN)
T5 = datetime(2026, 11, 25, 15, 55, tzinfo=EASTERN)


def eve_prices(settings, broker, clock, alert):
    return SimulatedMarket(SpotScript(641.0, vol=0.01, seed=1), EVE, clock, clock.now())


def _through_the_afternoon(now):
    """Minutes apart from T-30 to just before T-5 (nothing happens there), then second by second."""
    return 1 if now < T30 + timedelta(seconds=5) or now >= T5 - timedelta(seconds=10) else 60


def test_a_short_call_at_risk_of_early_assignment_is_warned_at_t30_and_bought_back_at_t5(tmp_path):
    script = GatewayScript(positions=[FakePosition(FakeContract.option(DEEP_CALL), -2, 4100.0)],
                           default_behaviour=OrderBehaviour.fill())
    sent = Alerts()
    gateway, service = run_tree(tmp_path, script, start=T30 - timedelta(seconds=5), seconds=30 * 60,
                                step=_through_the_afternoon, prices=eve_prices, session=EVE, alerts=sent,
                                ex_dividend_guard=True,
                                until=lambda g, s: bool(placed(g)) and s.status()["positions"] == 0)
    (alert,) = [a for a in sent.sent if a.title.startswith("Ex-dividend")]
    assert f"{DEEP_CALL} qty -2" in alert.body and "will be closed from T-5" in alert.body
    orders = placed(gateway)
    assert len(orders) == 1 and "BUY" in orders[0].fields
    assert any(f.startswith("CLN-20261218-SPY-600C-") for f in orders[0].fields)
    assert [(f.strike, f.quantity) for f in audited_fills(tmp_path)] == [(600.0, 2)]
    (close,) = [a for a in audited(tmp_path) if a.action.value == "close"]
    assert close.stage == "T-5" and "ex-dividend" in close.reason
    assert service.status()["positions"] == 0


def test_in_monitor_mode_it_is_only_warned_of(tmp_path):
    script = GatewayScript(positions=[FakePosition(FakeContract.option(DEEP_CALL), -2, 4100.0)],
                           default_behaviour=OrderBehaviour.fill())
    sent = Alerts()
    gateway, _ = run_tree(tmp_path, script, start=T5 - timedelta(minutes=1), seconds=90, mode=Mode.MONITOR,
                          prices=eve_prices, session=EVE, alerts=sent, ex_dividend_guard=True)
    assert placed(gateway) == []
    (alert,) = [a for a in sent.sent if a.title.startswith("Ex-dividend")]
    assert "Monitor mode: not closed" in alert.body
    assert any(a.reason.startswith(f"would close 2 {DEEP_CALL}") for a in audited(tmp_path) if a.action.value == "warn")


class WithoutOptionQuotes:
    """A feed that quotes SPY but none of its options, as when IB has no option market data for the account."""

    def __init__(self, market: SimulatedMarket) -> None:
        self.market, self.name = market, "no-options"

    def underlying_quote(self, symbol):
        return self.market.underlying_quote(symbol)

    def option_quotes(self, contracts):
        return {}


def test_without_an_option_quote_the_call_is_named_once_and_nothing_is_sent(tmp_path):
    script = GatewayScript(positions=[FakePosition(FakeContract.option(DEEP_CALL), -2, 4100.0)],
                           default_behaviour=OrderBehaviour.fill())
    sent = Alerts()
    gateway, _ = run_tree(tmp_path, script, start=T5 - timedelta(seconds=20), seconds=40, alerts=sent,
                          prices=lambda *args: WithoutOptionQuotes(eve_prices(*args)), session=EVE,
                          ex_dividend_guard=True)
    assert placed(gateway) == []
    (alert,) = [a for a in sent.sent if a.title.startswith("Ex-dividend")]
    assert alert.title == f"Ex-dividend: {DEEP_CALL} cannot be judged (no option quote)"
    assert "2026-11-27" in alert.body
