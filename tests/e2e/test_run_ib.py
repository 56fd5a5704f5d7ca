"""The actor tree over the real ib_async client and the fake IB Gateway; `run --check`; systemd notify."""

import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest

from actors.context import Roles
from domain.mode import Mode
from domain.session import EASTERN
from tests.fakes.ib_gateway import FakeContract, FakeIBGateway, FakeOrder, FakePosition, GatewayScript, OrderBehaviour
from tests.support.ib_tree import (
    CALL,
    CLOSE,
    SHORT_PUT,
    Alerts,
    audited,
    audited_commission,
    audited_fills,
    placed,
    run_tree,
)
from tests.support.systemd import notify_socket  # noqa: F401  (fixture)


def test_an_itm_long_call_is_sold_to_close_at_t5_with_an_order_ref(tmp_path):
    script = GatewayScript(positions=[FakePosition(FakeContract.option(CALL), 2, 180.0)],
                           default_behaviour=OrderBehaviour.fill())
    gateway, service = run_tree(tmp_path, script, start=datetime(2026, 11, 25, 15, 54, 58, tzinfo=EASTERN),
                                seconds=20, until=lambda g, s: bool(placed(g)) and s.status()["positions"] == 0)
    orders = placed(gateway)
    assert len(orders) == 1
    fields = orders[0].fields
    assert "SELL" in fields and any(f.startswith("CLN-20261125-SPY-638C-") for f in fields)
    assert service.status()["positions"] == 0  # flat after the fill and the re-poll
    fills = audited_fills(tmp_path)
    assert [(f.strike, f.quantity) for f in fills] == [(638.0, 2)] and fills[0].order_ref.startswith("CLN-")
    assert audited_commission(tmp_path) == pytest.approx(2 * 0.65)  # the gateway's commission report, audited


def test_disconnect_right_after_an_order_then_reconnect_adopts_it_and_ends_flat(tmp_path):
    script = GatewayScript(positions=[FakePosition(FakeContract.option(CALL), 2, 180.0)],
                           disconnect_after="placeOrder")
    state = {}

    def until(gateway, service):
        ids = {r.fields[1] for r in placed(gateway)}
        reconciled = service.broker.is_connected() and service.broker.last_reconciliation.adopted
        if ids and reconciled and "filled" not in state:
            gateway.fill(int(next(iter(ids))), 3.0)  # the adopted order still reports to us
            state["filled"] = True
        return "filled" in state and service.status()["positions"] == 0

    gateway, service = run_tree(tmp_path, script, start=datetime(2026, 11, 25, 15, 54, 58, tzinfo=EASTERN),
                                seconds=150, until=until, pause=0.1)
    assert state.get("filled"), "the order was never adopted after the reconnect"
    assert len({r.fields[1] for r in placed(gateway)}) == 1  # one order id: never sent twice
    assert service.status()["positions"] == 0


def test_monitor_mode_sends_no_order(tmp_path):
    script = GatewayScript(positions=[FakePosition(FakeContract.option(CALL), 2, 180.0)])
    sent = Alerts()
    gateway, _ = run_tree(tmp_path, script, start=datetime(2026, 11, 25, 15, 57, 50, tzinfo=EASTERN),
                          seconds=20, mode=Mode.MONITOR, alerts=sent)
    assert placed(gateway) == [] and gateway.received("reqPositions")
    # It did decide: the ITM call would have been closed, and the trader is told so.
    warned = [a for a in audited(tmp_path) if a.action.value == "warn" and a.reason.startswith("would close")]
    assert [(a.strike, a.right) for a in warned][:1] == [(638.0, "C")]
    assert any("638C" in f"{a.title} {a.body}" and "would close" in f"{a.title} {a.body}".lower() for a in sent.sent)


@pytest.mark.parametrize("outage", ["socket dropped", "IB code 1100"])
def test_a_few_seconds_of_outage_at_t5_uses_no_attempt_trips_no_breaker_and_the_call_is_closed_after(
        tmp_path, outage):
    script = GatewayScript(positions=[FakePosition(FakeContract.option(CALL), 2, 180.0)],
                           default_behaviour=OrderBehaviour.fill())
    down_at, up_at = datetime(2026, 11, 25, 15, 54, 59, tzinfo=EASTERN), datetime(2026, 11, 25, 15, 55, 14,
                                                                                 tzinfo=EASTERN)
    state: dict[str, bool] = {}

    def until(gateway, service):
        now = service.clock.now()
        if now >= down_at and "down" not in state:  # 15 ticks of T-5 decisions while down: more than 10 attempts
            if outage == "socket dropped":
                gateway.refuse_connections(True)
                gateway.drop_connections()
            else:
                gateway.send_connectivity(1100)
            assert gateway.wait_for(lambda: not service.broker.is_connected(), timeout=10)
            state["down"] = True
        if now >= up_at and "up" not in state:
            if outage == "socket dropped":
                gateway.refuse_connections(False)
            else:
                gateway.send_connectivity(1102)
            assert gateway.wait_for(service.broker.is_connected, timeout=30), "never reconnected"
            state["up"] = True
        return "up" in state and service.status()["positions"] == 0

    gateway, service = run_tree(tmp_path, script, start=datetime(2026, 11, 25, 15, 54, 55, tzinfo=EASTERN),
                                seconds=60, until=until)
    assert state.get("up") and service.status()["positions"] == 0, "the ITM call was not closed after the reconnect"
    assert len(placed(gateway)) == 1 and not service.gate.closed_by("circuit breaker")
    assert list(service.keeper.get(Roles.EXECUTOR).attempts.values()) == [1]  # the outage used none
    refused = [a for a in audited(tmp_path) if "not sent: broker disconnected" in (a.error or "")]
    assert len(refused) == 1 and [a.action.value for a in audited(tmp_path) if a.action.value == "reject"] == []


def test_a_stop_on_an_expiring_short_is_modified_to_market_at_t2(tmp_path):
    put = FakeContract.option(SHORT_PUT)
    script = GatewayScript(positions=[FakePosition(put, -3, 110.0)],
                           open_orders=[FakeOrder(7, put, "BUY", 3, "STP", aux_price=2.5, order_ref="trader-stop")])
    gateway, _ = run_tree(tmp_path, script, start=datetime(2026, 11, 25, 15, 57, 58, tzinfo=EASTERN), seconds=8,
                          until=lambda g, s: any("MKT" in r.fields for r in placed(g)))
    modifications = placed(gateway)
    assert modifications and all(r.fields[1] == "7" for r in modifications)  # same order id
    assert "MKT" in modifications[-1].fields


def test_one_contract_ib_keeps_refusing_is_given_up_alone_and_trips_no_breaker(tmp_path):
    refused = FakeContract.option(CALL)
    itm_put = FakeContract.option("SPY 20261125 645P")
    script = GatewayScript(positions=[FakePosition(refused, 4, 300.0), FakePosition(itm_put, -2, 410.0)],
                           contract_behaviours={CALL: OrderBehaviour.reject()}, default_behaviour=OrderBehaviour.fill())
    sent = Alerts()
    gateway, service = run_tree(tmp_path, script, start=datetime(2026, 11, 25, 15, 54, 59, tzinfo=EASTERN),
                                seconds=30, alerts=sent, until=lambda g, s: CALL in {c.key for c in
                                                                                   s.keeper.get(Roles.EXECUTOR).given_up})
    refs = [r.fields[26] for r in placed(gateway)]
    assert sum(ref.startswith("CLN-20261125-SPY-638C-") for ref in refs) == 3  # max_contract_failures
    assert not service.gate.closed_by("circuit breaker")
    assert [(f.strike, f.right, f.quantity) for f in audited_fills(tmp_path)] == [(645.0, "P", 2)]  # the other closed
    assert any(a.title == f"Giving up on {CALL}: close it by hand" for a in sent.sent)


def test_rejects_across_contracts_trip_the_circuit_breaker_until_a_person_resumes(tmp_path):
    far = "SPY 20261125 636C"
    script = GatewayScript(positions=[FakePosition(FakeContract.option(CALL), 4, 300.0),
                                      FakePosition(FakeContract.option(far), 2, 500.0)],
                           default_behaviour=OrderBehaviour.reject())
    state: dict[str, int] = {}

    def trip_then_resume(gateway, service):
        if service.gate.closed_by("circuit breaker") and "tripped" not in state:
            state["tripped"] = len(placed(gateway))
            gateway.script.default_behaviour = OrderBehaviour.fill()  # the cause is fixed ...
            service.resume()  # ... and a person resets the breaker (ctl resume): it never resets by itself
        return "tripped" in state and service.status()["positions"] == 0

    gateway, service = run_tree(tmp_path, script, start=datetime(2026, 11, 25, 15, 54, 59, tzinfo=EASTERN),
                                seconds=60, until=trip_then_resume)
    assert state["tripped"] == 6  # the sixth failure, across the two contracts, tripped it: nothing more sent
    assert not service.gate.closed_by("circuit breaker") and service.status()["positions"] == 0


def test_run_check_prints_account_positions_and_orders():
    contract = FakeContract.option(CALL)
    script = GatewayScript(positions=[FakePosition(contract, 2, 180.0)],
                           open_orders=[FakeOrder(9, contract, "SELL", 2, "STP", aux_price=1.0, order_ref="mine")])
    with FakeIBGateway(script) as gateway:
        result = _cli("run", "--check", env={"CLEANUP_IB_PORT": str(gateway.port)})
    assert result.returncode == 0, result.stderr
    for text in ("DU1234567", "638", "mine"):
        assert text in result.stdout


def test_run_check_against_a_closed_port_fails_in_one_line():
    result = _cli("run", "--check", env={"CLEANUP_IB_PORT": "1"})
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "127.0.0.1:1" in lines[0]


def test_run_with_ib_gateway_unreachable_says_so_in_one_line_and_keeps_retrying(tmp_path):
    env = {"CLEANUP_IB_PORT": "1", "CLEANUP_PRICE_SOURCE": "ib", "CLEANUP_DATA_DIR": str(tmp_path),
           "CLEANUP_LOG_DIR": str(tmp_path / "logs"), "CLEANUP_METRICS_PORT": "0"}
    process = _run_on("session", env=env, stderr=subprocess.PIPE)
    try:
        time.sleep(4)  # the first connect, and a few background retries
        assert process.poll() is None, "run gave up instead of retrying in the background"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    lines = stderr.decode().splitlines()
    said = [line for line in lines if "127.0.0.1:1" in line and not LOG_RECORD.match(line)]
    assert len(said) == 1, stderr.decode()
    assert "IB Gateway" in said[0] and "API socket clients" in said[0] and "retrying in the background" in said[0]
    assert not [line for line in lines if "ib_async" in line and ("API connection failed" in line
                                                                    or "Make sure API port" in line)]


def test_run_on_a_day_without_a_session_says_why_and_exits_0_without_connecting(tmp_path, notify_socket):  # noqa: F811
    env = {"CLEANUP_IB_PORT": "1", "CLEANUP_PRICE_SOURCE": "ib", "CLEANUP_DATA_DIR": str(tmp_path),
           "CLEANUP_LOG_DIR": str(tmp_path / "logs"), "CLEANUP_METRICS_PORT": "0", **notify_socket.env()}
    process = _run_on("holiday", env=env, stderr=subprocess.PIPE)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0
    assert "127.0.0.1:1" not in stderr.decode()  # it never tried IB Gateway
    fields = "".join(notify_socket.fields())
    assert "READY=1" in fields and "STOPPING=1" in fields and "exchange holiday" in fields


# The service's own log records (journald keeps them); the operator's line is printed plainly.
LOG_RECORD = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: ")


def test_run_tells_systemd_ready_and_pings_the_watchdog(tmp_path, notify_socket):  # noqa: F811
    with FakeIBGateway(GatewayScript()) as gateway:
        env = {"CLEANUP_IB_PORT": str(gateway.port), "CLEANUP_PRICE_SOURCE": "ib", "CLEANUP_DATA_DIR": str(tmp_path),
               "CLEANUP_LOG_DIR": str(tmp_path / "logs"), "CLEANUP_METRICS_PORT": "0",
               **notify_socket.env(watchdog_usec=400_000)}
        process = _run_on("session", env=env)
        try:
            assert notify_socket.wait_for("READY=1", 1, timeout=60), notify_socket.fields()
            assert notify_socket.wait_for("WATCHDOG=1", 3, timeout=20), notify_socket.fields()
        finally:
            process.terminate()
            code = process.wait(timeout=30)
    assert code == 0
    assert "STOPPING" in "".join(notify_socket.fields())


def _environment(env):
    merged = {k: v for k, v in os.environ.items() if not k.startswith("CLEANUP_") and k != "NOTIFY_SOCKET"}
    merged.update(env)
    return merged


def _cli(*args, env):
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True,
                          env=_environment(env), timeout=120)


def _run_on(day, *, env, stderr=subprocess.DEVNULL):
    """`cleanup-manager run` on a session day or a holiday, whatever today is (tests.support.run_on_day)."""
    return subprocess.Popen([sys.executable, "-m", "tests.support.run_on_day", day, "run"], env=_environment(env),
                            stdout=subprocess.DEVNULL, stderr=stderr)



# The seed's polling schedule, written out here rather than imported, so the tree is checked against it.
SEED_CADENCE = ((timedelta(minutes=30), timedelta(minutes=15)),  # until T-30, holding positions: every 15 min
                (timedelta(minutes=5), timedelta(minutes=5)),  # T-30 to T-5: every 5 min
                (timedelta(0), timedelta(minutes=1)))  # T-5 to the close: every minute


def seed_poll_budget(start, close, fills):
    """Most polls the seed's cadence allows from ``start`` to ``close``: each stage over its interval, plus fills."""
    polls, segment_start = 0, start
    for before_close, interval in SEED_CADENCE:
        segment_end = max(close - before_close, segment_start)
        polls += -(-(segment_end - segment_start) // interval)  # ceiling division
        segment_start = segment_end
    return polls + fills


def test_api_messages_over_an_afternoon_stay_within_the_cadence_budget_and_50_a_second(tmp_path):
    far_put = FakeContract.option("SPY 20261125 600P")  # stays out of the money: the account is never flat
    script = GatewayScript(positions=[FakePosition(FakeContract.option(CALL), 2, 180.0), FakePosition(far_put, 1, 5.0)],
                           default_behaviour=OrderBehaviour.fill())
    start = datetime(2026, 11, 25, 14, 0, tzinfo=EASTERN)
    gateway, service = run_tree(tmp_path, script, start=start, seconds=int((CLOSE - start).total_seconds()),
                                step=lambda now: 30 if now < CLOSE - timedelta(minutes=5) else 1, pause=0.01)
    after_connect = gateway.received_since_mark()
    polls_allowed = seed_poll_budget(start, CLOSE, fills=len(audited_fills(tmp_path)))
    polls = len(gateway.received_since_mark("reqPositions"))
    orders = [r for r in after_connect if r.name in ("placeOrder", "cancelOrder")]
    qualified = gateway.received_since_mark("reqContractDetails")
    # Executions are read only with the first poll after a start or a reconnect (or when an order's fills
    # are missing): not on the cadence.
    executions = gateway.received_since_mark("reqExecutions")
    budget = 2 * polls_allowed + len(orders) + len(qualified) + len(executions)  # a poll: positions + orders
    worst = gateway.max_messages_in_any_second()
    print(f"\nIB API messages over 14:00-16:00: {service.broker.messages_sent()} in all, {len(after_connect)} after "
          f"connecting ({polls} polls, {len(orders)} order messages); cadence budget {budget}; "
          f"most in any one second: {worst}")
    assert service.status()["positions"] == 1 and len(orders) == 1  # the ITM call was closed, at one try
    assert polls <= polls_allowed and len(gateway.received_since_mark("reqAllOpenOrders")) <= polls_allowed
    assert len(after_connect) <= budget
    assert len(executions) <= 2
    assert {r.name for r in after_connect} <= {"reqPositions", "reqAllOpenOrders", "placeOrder", "cancelOrder",
                                               "reqContractDetails", "reqExecutions"}
    assert worst <= 50
    assert service.broker.messages_sent() == len(gateway.received())  # the counter misses nothing
