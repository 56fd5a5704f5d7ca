"""textual's Pilot drives the terminal UI against a running simulated session (a real subprocess).

The app is the real one with the real socket client; only the keyboard is scripted. What the app
shows is checked against what the service itself reports, and what it does against the service's
state and its audit store.
"""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import DataTable, Input, Static

from domain.audit import ActionKind
from domain.model import OptionContract
from domain.risk import calculate_moneyness
from runtime.control_socket import send_command
from tests.support.tui import simulated_session, wait_until
from tui.app import CleanupApp
from tui.client import SocketClient
from tui.format import pct

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def session():
    with simulated_session(speed=20) as running:
        yield running


def app_for(session) -> CleanupApp:
    return CleanupApp(SocketClient(session.socket, session.settings), refresh_seconds=0.5)


async def until(pilot, predicate, timeout: float = 10.0):
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"condition not met in the app within {timeout:g} s")


def text_of(widget: Static) -> str:
    return str(widget.render())


def test_status_panel_shows_the_scenario_positions_with_their_moneyness(session):
    asyncio.run(_test_status_panel_shows_the_scenario_positions_with_their_moneyness(session))


async def _test_status_panel_shows_the_scenario_positions_with_their_moneyness(session):
    app = app_for(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.last_status is not None and app.last_status.get("spot"))
        shown = app.last_status
        table = app.query_one("#positions", DataTable)
        rows = {str(table.get_row_at(i)[0]): table.get_row_at(i) for i in range(table.row_count)}
        independent = session.status()  # the service's own answer, a moment later
        assert set(rows) == {p["contract"] for p in independent["positions_at_risk"]} == {
            "SPY 20261125 638C", "SPY 20261125 641P", "SPY 20261125 642C", "SPY 20261125 630P", "SPY 20261125 650C"}
        quantities = {p["contract"]: p["quantity"] for p in independent["positions_at_risk"]}
        for contract, row in rows.items():
            assert str(row[1]) == str(quantities[contract])
        for position in shown["positions_at_risk"]:
            # the row shows the moneyness the service computed, and that is the seed's formula at SPY's price
            assert str(rows[position["contract"]][2]) == pct(position["moneyness"])
            assert str(rows[position["contract"]][3]) == f"{position['spot']:.2f}"  # the price it was judged on
            contract = OptionContract.parse_key(position["contract"])
            assert position["moneyness"] == pytest.approx(
                calculate_moneyness(shown["spot"], contract.strike, contract.right), abs=2e-4)
        later = {p["contract"]: p["moneyness"] for p in independent["positions_at_risk"]}
        for position in shown["positions_at_risk"]:  # SPY moves a little between the two reads
            assert position["moneyness"] == pytest.approx(later[position["contract"]], abs=0.005)
        summary = text_of(app.query_one("#summary", Static))
        assert "Mode: ACTIVE" in summary and "ET" in summary and "HKT" in summary


def test_switching_to_monitor_from_the_control_panel_reaches_the_service(session):
    asyncio.run(_test_switching_to_monitor_from_the_control_panel_reaches_the_service(session))


async def _test_switching_to_monitor_from_the_control_panel_reaches_the_service(session):
    assert session.status()["mode"] == "active"
    app = app_for(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.last_status is not None)
        await pilot.press("3", "m")
        await pilot.pause(0.2)
        assert session.status()["mode"] == "active", "a mode switch must wait for the confirmation"
        await pilot.press("y")
        reply = app.query_one("#reply", Static)
        await until(pilot, lambda: "mode is now monitor" in text_of(reply))
        assert session.status()["mode"] == "monitor"
        await until(pilot, lambda: app.last_status["mode"] == "monitor")
    assert send_command(session.socket, "mode active", who="test").ok  # leave the shared session as it was


def test_a_manual_close_is_sent_and_audited(session):
    asyncio.run(_test_a_manual_close_is_sent_and_audited(session))


async def _test_a_manual_close_is_sent_and_audited(session):
    target = "SPY 20261125 650C"  # far out of the money: the policy itself would never close it
    app = app_for(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.last_status is not None)
        await pilot.press("3")
        table = app.query_one("#close-table", DataTable)
        await until(pilot, lambda: table.row_count == 5)
        table.move_cursor(row=[str(table.get_row_at(i)[0]) for i in range(table.row_count)].index(target))
        await pilot.press("x")
        await pilot.pause(0.1)
        await pilot.press("y")
        reply = app.query_one("#reply", Static)
        await until(pilot, lambda: "closing 1 SPY 20261125 650C" in text_of(reply))
    def close_recorded():
        records = session.audited()
        commands = [r for r in records
                    if r.action is ActionKind.COMMAND and r.details.get("command") == f"close {target}"]
        orders = [r for r in records if r.action is ActionKind.CLOSE and r.strike == 650.0 and r.right == "C"]
        return (commands, orders) if commands and orders else None

    commands, orders = wait_until(close_recorded, timeout=15)
    assert commands[0].success is True and commands[0].details["claimed_name"] == "tui"
    assert orders[0].quantity in (1, -1) and orders[0].success is not False


def test_an_invalid_threshold_is_refused_with_its_reason_inline(session):
    asyncio.run(_test_an_invalid_threshold_is_refused_with_its_reason_inline(session))


async def _test_an_invalid_threshold_is_refused_with_its_reason_inline(session):
    before = session.status()["thresholds"]["t2_moneyness"]
    app = app_for(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.last_status is not None)
        await pilot.press("3")
        field = app.query_one("#set-t2_moneyness", Input)
        field.focus()
        await pilot.pause(0.05)
        field.value = ""
        await pilot.press("0", ".", "5", "enter")
        await pilot.pause(0.1)
        await pilot.press("y")
        message = app.query_one("#msg-t2_moneyness", Static)
        await until(pilot, lambda: "must be a fraction in (0, 0.2]" in text_of(message))
        assert text_of(message).startswith("refused: config error: t2_moneyness='0.5'")
    assert session.status()["thresholds"]["t2_moneyness"] == before
