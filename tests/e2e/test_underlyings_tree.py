"""Through the actor tree: each position on its own underlying's price, the last fresh price from T-5
when the feed froze, orders IB will not let us touch, and what is still open at the bell."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

from domain.audit import ActionKind
from domain.mode import Mode
from domain.model import OptionContract, Position, Quote, Side
from gateways.sim_market import SimulatedMarket, SpotScript
from tests.fakes.ib_gateway import FakeContract, FakePosition, GatewayScript, OrderBehaviour
from tests.support.domain_builders import stop
from tests.support.ib_tree import CLOSE, SESSION, audited, placed, run_tree
from tests.support.paper_tree import run_paper

T_MINUS_5 = CLOSE - timedelta(minutes=5)
T_MINUS_6 = CLOSE - timedelta(minutes=6)
IWM_PUT = "IWM 20261125 222P"  # IWM 220: $2 in the money, short: assigned if left; on SPY's 641 far out
QQQ_CALL = "QQQ 20261125 520C"  # QQQ 510: $10 out; on SPY's 641 far in the money
SPX_CALL = "SPXW 20261125 5800C"


def contract(key: str) -> OptionContract:
    return OptionContract.parse_key(key)


def three_underlyings(settings, broker, clock, alert):
    return SimulatedMarket(SpotScript(641.0, vol=0.01, seed=1), SESSION, clock, clock.now(),
                           underlyings={"IWM": SpotScript(220.0, vol=0.01, seed=2),
                                        "QQQ": SpotScript(510.0, vol=0.01, seed=3)})


def test_an_itm_iwm_put_is_closed_and_an_otm_qqq_call_left_while_spx_is_warned_once(tmp_path):
    script = GatewayScript(positions=[FakePosition(FakeContract.option(IWM_PUT), -2, 150.0),
                                      FakePosition(FakeContract.option(QQQ_CALL), 3, 90.0),
                                      FakePosition(FakeContract.option(SPX_CALL), 1, 2500.0)],
                           default_behaviour=OrderBehaviour.fill())
    seen: list[dict] = []

    def watch(gateway, service) -> bool:
        seen.append(service.status())
        return False

    gateway, _ = run_tree(tmp_path, script, start=T_MINUS_5 - timedelta(seconds=10), seconds=25, until=watch,
                          prices=three_underlyings)
    refs = [field for order in placed(gateway) for field in order.fields if field.startswith("CLN-")]
    assert refs and all(ref.startswith("CLN-20261125-IWM-222P-") for ref in refs)
    assert all("BUY" in order.fields for order in placed(gateway))
    closes = [a for a in audited(tmp_path) if a.action is ActionKind.CLOSE]
    assert {(a.symbol, a.strike, a.right, a.stage) for a in closes} == {("IWM", 222.0, "P", "T-5")}
    assert min(a.at for a in closes) <= T_MINUS_5 + timedelta(seconds=2)
    judged = {p["contract"]: (p["underlying"], round(p["spot"])) for p in seen[0]["positions_at_risk"]}
    assert judged == {IWM_PUT: ("IWM", 220), QQQ_CALL: ("QQQ", 510)}
    assert seen[0]["unwatched"] == [SPX_CALL] and set(seen[0]["spots"]) == {"SPY", "IWM", "QQQ"}
    warned = [a for a in audited(tmp_path) if a.action is ActionKind.WARN and "Not watched" in a.reason]
    assert [(a.symbol, a.strike) for a in warned] == [("SPXW", 5800.0)]
    assert "settle in cash" in warned[0].reason


class FrozenAt:
    """The market, its underlying quotes frozen from ``at`` on (same price, same exchange time)."""

    def __init__(self, market: SimulatedMarket, at) -> None:
        self.market, self.at, self.name = market, at, market.name
        self.frozen: dict[str, Quote] = {}

    def underlying_quote(self, symbol: str) -> Quote:
        if self.market.clock.now() < self.at:
            return self.market.underlying_quote(symbol)
        return self.frozen.setdefault(symbol, self.market.underlying_quote(symbol))

    def option_quotes(self, contracts):
        return self.market.option_quotes(contracts)


def test_a_call_in_the_money_since_t30_is_closed_at_t5_on_the_last_price_although_the_feed_froze_at_t6(tmp_path):
    deep, near = contract("SPY 20261125 633C"), contract("SPY 20261125 639C")  # +1.26 % and +0.31 % at 641
    broker, _, alerts = run_paper(tmp_path, [Position(deep, 2, 8.0), Position(near, 1, 2.0)],
                                  start=T_MINUS_6 - timedelta(seconds=5), seconds=130,
                                  source=lambda market: FrozenAt(market, T_MINUS_6))
    assert [(r.contract, r.quantity) for r in broker.placed] == [(deep, 2)]  # never the near one
    (close,) = [a for a in audited(tmp_path) if a.action is ActionKind.CLOSE]
    assert close.at == T_MINUS_5
    assert re.fullmatch(r"T-5: clearly in the money \(\+1\.2\d%\) on the last fresh price 64[01]\.\d\d, "
                        r"15:54:00 ET, stale for 60 s", close.reason), close.reason
    stale = [a for a in alerts.sent if a.title == "No fresh SPY price near the close"]
    assert len(stale) == 1 and stale[0].severity.value == "critical"
    assert "SPY 20261125 633C" in stale[0].body and "Not judged, left open: SPY 20261125 639C" in stale[0].body


def test_a_tws_stop_is_named_once_from_t30_and_what_it_does_not_cover_is_closed_at_t5(tmp_path):
    call = contract("SPY 20261125 635C")  # +0.94 % at 641: a short call in the money, closed from T-5
    tws = replace(stop(call, Side.BUY, 2, order_id="31"), stop_price=20.0, modifiable=False,
                  owner="TWS", client_id=0, perm_id=991)
    broker, _, alerts = run_paper(tmp_path, [Position(call, -3, 5.0)], orders=[tws],
                                  start=CLOSE - timedelta(minutes=30, seconds=3), seconds=25 * 60 + 10)
    (blocking,) = [a for a in alerts.sent if a.title.startswith("Order blocks the close")]
    assert blocking.severity.value == "critical"
    for part in ("STP BUY 2 SPY 20261125 635C stop 20.00", "placed by TWS", "order id 31", "perm 991",
                 "covers 2 of the 3 contracts held short", "at most the other 1", "ib_client_id = 0"):
        assert part in blocking.body, part
    audited_once = [a for a in audited(tmp_path) if a.action is ActionKind.WARN and a.order_id == "31"]
    assert len(audited_once) == 1 and audited_once[0].at == CLOSE - timedelta(minutes=30)
    assert [(r.contract, r.quantity) for r in broker.placed] == [(call, 1)]  # the stop still covers 2
    assert not [a for a in audited(tmp_path) if a.action in (ActionKind.CANCEL, ActionKind.CONVERT_STOP)]


def test_positions_still_open_at_the_bell_are_listed_once_with_what_is_likely(tmp_path):
    held = [Position(contract("SPY 20261125 638C"), 2, 3.0),  # long $3 in: exercise
            Position(contract("SPY 20261125 643P"), -1, 2.0),  # short $2 in: assignment
            Position(contract("SPY 20261125 639P"), -1, 1.0),  # short 0.3 % out: after-hours pin risk
            Position(contract("SPY 20261125 650C"), 1, 0.1),  # far out: expires
            Position(contract("IWM 20261125 222P"), -3, 1.5),  # on IWM's own 220: assignment
            Position(contract(SPX_CALL), 1, 25.0)]  # cash-settled
    _, _, alerts = run_paper(tmp_path, held, mode=Mode.MONITOR, prices={"SPY": 641.0, "IWM": 220.0},
                             start=CLOSE - timedelta(seconds=10), seconds=120)
    (bell,) = [a for a in alerts.sent if a.key == "open-at-bell:2026-11-25"]
    assert bell.severity.value == "critical" and bell.title == "6 expiring position(s) open at the close"
    lines = bell.body.splitlines()
    after = r", after hours \d+\.\d\d at 16:00:[0-5]\d ET: "  # the latest price since the bell, and its time
    expected = [r"- SPY 20261125 638C qty \+2 \(long\): SPY 64[01]\.\d\d at the close, moneyness \+0\.4\d%"
                + after + "exercise likely",
                r"- SPY 20261125 643P qty -1 \(short\): SPY 64[01]\.\d\d at the close, .*: assignment likely",
                r"- SPY 20261125 639P qty -1 \(short\): .*: assignment possible on an after-hours move",
                r"- SPY 20261125 650C qty \+1 \(long\): .*: expires worthless likely",
                r"- IWM 20261125 222P qty -3 \(short\): IWM 220\.\d\d at the close, moneyness \+0\.[89]\d%"
                + after + "assignment likely",
                r"- SPXW 20261125 5800C qty \+1 \(long\): settles in cash, not watched"]
    for pattern in expected:
        assert any(re.fullmatch(pattern, line) for line in lines), (pattern, bell.body)
    records = [a for a in audited(tmp_path) if a.reason.startswith("open at the close")]
    assert len(records) == 6 and {a.stage for a in records} == {"CLOSED"}
    assert {(a.strike, a.success) for a in records if a.symbol == "SPY"} == {
        (638.0, False), (643.0, False), (639.0, False), (650.0, True)}
