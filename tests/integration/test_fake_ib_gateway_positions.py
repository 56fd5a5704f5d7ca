"""The fake IB Gateway's position reads lag fills, on the gateway's clock, as IB's do; executions carry that clock."""

from __future__ import annotations

from datetime import UTC, datetime

from ib_async import ExecutionFilter, MarketOrder, Option

from tests.fakes.ib_gateway import FakeContract, FakeIBGateway, FakePosition, GatewayScript
from tests.fakes.ib_gateway.harness import ib_client, settle

CALL_KEY = "SPY 20261127 635C"
CALL = FakeContract.option(CALL_KEY)
START = datetime(2026, 11, 27, 20, 58, 10, tzinfo=UTC).timestamp()


class SteppedClock:
    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def held(ib) -> float:
    """The position as the client holds it from pushed updates."""
    return sum(p.position for p in ib.positions() if p.contract.conId == CALL.con_id)


def read(ib) -> float:
    """The position as a fresh read answers."""
    return sum(p.position for p in ib.reqPositions() if p.contract.conId == CALL.con_id)


def test_a_fill_shows_in_position_reads_only_after_the_lag_by_the_gateways_clock():
    clock = SteppedClock(START)
    with FakeIBGateway(GatewayScript(positions=[FakePosition(CALL, 2, 250.0)], position_lag_seconds=5)) as gateway:
        gateway.use_clock(clock)
        with ib_client(gateway) as (ib, _):
            trade = ib.placeOrder(Option(conId=CALL.con_id, exchange="SMART"), MarketOrder("SELL", 1))
            assert settle(ib, lambda: trade.orderStatus.status == "Filled")
            assert gateway.position(CALL_KEY) == 1 and gateway.reported_position(CALL_KEY) == 2
            clock.at = START + 4.9
            ib.sleep(0.2)
            assert read(ib) == 2 and held(ib) == 2  # neither the answer nor a pushed update shows it yet
            clock.at = START + 5
            assert settle(ib, lambda: held(ib) == 1)  # pushed once it is due
            assert read(ib) == 1 and gateway.reported_position(CALL_KEY) == 1


def test_a_position_closed_by_a_fill_still_reads_open_until_the_lag_has_passed():
    clock = SteppedClock(START)
    with FakeIBGateway(GatewayScript(positions=[FakePosition(CALL, 1, 250.0)], position_lag_seconds=12)) as gateway:
        gateway.use_clock(clock)
        with ib_client(gateway) as (ib, _):
            ib.placeOrder(Option(conId=CALL.con_id, exchange="SMART"), MarketOrder("SELL", 1))
            assert gateway.wait_for(lambda: gateway.position(CALL_KEY) == 0)
            assert read(ib) == 1
            clock.at = START + 12
            assert read(ib) == 0 and all(p.contract.conId != CALL.con_id for p in ib.reqPositions())


def test_without_a_lag_position_reads_follow_fills_at_once():
    with (FakeIBGateway(GatewayScript(positions=[FakePosition(CALL, 2, 250.0)])) as gateway,
          ib_client(gateway) as (ib, _)):
        ib.placeOrder(Option(conId=CALL.con_id, exchange="SMART"), MarketOrder("SELL", 1))
        assert settle(ib, lambda: held(ib) == 1)
        assert read(ib) == 1 and gateway.reported_position(CALL_KEY) == 1


def test_execution_times_and_the_current_time_come_from_the_gateways_clock():
    clock = SteppedClock(START)
    with FakeIBGateway(GatewayScript(positions=[FakePosition(CALL, 2, 250.0)], position_lag_seconds=5)) as gateway:
        gateway.use_clock(clock)
        with ib_client(gateway) as (ib, _):
            trade = ib.placeOrder(Option(conId=CALL.con_id, exchange="SMART"), MarketOrder("SELL", 1))
            assert settle(ib, lambda: trade.fills != [])
            clock.at = START + 30
            [answered] = ib.reqExecutions(ExecutionFilter(clientId=17))
            fill_time = datetime.fromtimestamp(START, UTC)
            assert trade.fills[0].execution.time == fill_time and answered.execution.time == fill_time
            assert ib.reqCurrentTime() == datetime.fromtimestamp(START + 30, UTC)
