"""IB market-data errors through the tree as `run` wires it: one alert naming what to buy, never one a poll."""

from __future__ import annotations

from datetime import timedelta

from domain.alerts import Severity
from domain.feed_health import PRIMARY
from domain.mode import Mode
from gateways.metrics import Metrics
from runtime.clock import VirtualClock
from runtime.ib_wiring import price_source
from tests.fakes.ib_gateway import FakeContract, FakePosition, GatewayScript, QuoteStep, codes
from tests.fakes.theta_terminal import FakeThetaTerminal
from tests.support.ib_tree import CALL, CLOSE, Alerts, run_tree

START = CLOSE - timedelta(minutes=40)
SPY = 641.0


def script(**changes) -> GatewayScript:
    return GatewayScript(positions=[FakePosition(FakeContract.option(CALL), 2, 180.0)], price_path=[
        QuoteStep(0, "SPY", SPY - 0.01, SPY + 0.01, SPY), QuoteStep(0, CALL, 2.98, 3.04, 3.0, 0.15)], **changes)


def counted_prices(metrics: Metrics):
    def build(settings, broker, clock, alert):
        return price_source(settings, broker, clock, alert, on_error=metrics.feed_error)
    return build


def ib_errors(metrics: Metrics, kind: str) -> float:
    return metrics.registry.get_sample_value("cleanup_price_feed_errors_total", {"source": "ib", "kind": kind})


def test_on_ib_prices_a_missing_subscription_is_one_alert_naming_it_and_every_failed_poll_is_counted(tmp_path):
    alerts, metrics = Alerts(), Metrics(process_collectors=False)
    refused = script(market_data_errors={"SPY": (354, codes.text(354))})
    run_tree(tmp_path, refused, start=START, seconds=20, mode=Mode.MONITOR, alerts=alerts, pause=0.05,
             prices=counted_prices(metrics), price_source="ib")
    feed = [alert for alert in alerts.sent if "IB 354" in alert.body]
    print("\n" + "\n".join(f"{a.severity.value}: {a.title}: {a.body}" for a in feed))
    assert len(feed) == 1 and feed[0].severity is Severity.CRITICAL
    assert "subscribe to US stock/ETF market data for SPY for API use" in feed[0].body
    assert ib_errors(metrics, "permission") >= 15  # one a poll, after IB's answer came


def test_on_thetadata_ib_lacking_opra_is_one_warning_that_the_fallback_has_no_prices(tmp_path):
    alerts, metrics = Alerts(), Metrics(process_collectors=False)
    clock = VirtualClock(START)
    refused = script(market_data_errors={CALL: (354, codes.text(354))})
    with FakeThetaTerminal(clock=clock.now, spy=SPY) as terminal:
        gateway, service = run_tree(tmp_path, refused, start=START, seconds=20, clock=clock, mode=Mode.MONITOR,
                                    alerts=alerts, pause=0.05, prices=counted_prices(metrics),
                                    price_source="thetadata", thetadata_url=terminal.url_v2)
        assert service.status()["price_source"] == PRIMARY  # ThetaData is fine: it stays in use
    print("\n" + "\n".join(f"{a.severity.value}: {a.title}: {a.body}" for a in alerts.sent))
    [warning] = [alert for alert in alerts.sent if "IB" in alert.title]
    assert warning.severity is Severity.WARNING and warning.title == \
        "IB market data lacks permission: no fallback for ThetaData"
    assert f"IB market data for {CALL}: IB 354" in warning.body and "OPRA (US options)" in warning.body
    assert ib_errors(metrics, "permission") >= 15
