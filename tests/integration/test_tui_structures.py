"""The status view's multi-leg structures: each spread with its legs, its delivery and its plan."""

from __future__ import annotations

import asyncio

from textual.widgets import DataTable

from tests.integration.test_tui_snapshots import SIZES, _ready
from tests.support.tui import canned_history, canned_replies, canned_spread_status, canned_status
from tui.app import CleanupApp
from tui.client import StaticClient
from tui.status_view import structure_reasons, structure_rows


def cells(status: dict) -> list[list[str]]:
    return [[str(cell) for cell in row] for _, row in structure_rows(status)]


def test_a_spread_shows_one_row_per_leg_with_its_delivery_and_plan_on_the_first():
    first, second = cells(canned_spread_status())
    assert first[:3] == ["vertical SPY 20261125", "632P", "+2"] and second[:3] == ["", "635P", "-2"]
    assert first[3] == "watch" and first[4] == "below 632: +0; 632-635: +200; above 635: +0"
    assert first[5] == "+0 at 629.93" and first[6] == "627.60-632.25: +0 to +200"
    assert second[3:] == ["", "", "", ""]
    assert str(structure_reasons(canned_spread_status())) == "vertical SPY 20261125 +2 632P / -2 635P: no leg at risk"
    assert structure_rows(canned_status()) == []


def app(status: dict) -> CleanupApp:
    return CleanupApp(StaticClient(status, canned_history(), canned_replies()), refresh_seconds=3600)


def test_the_status_view_lists_the_spread_legs_and_hides_the_table_without_structures():
    asyncio.run(_lists_the_spread_legs_and_hides_the_table_without_structures())


async def _lists_the_spread_legs_and_hides_the_table_without_structures() -> None:
    spread = app(canned_spread_status())
    async with spread.run_test(size=SIZES["large"]) as pilot:
        await _ready(pilot)
        await pilot.pause(0.1)
        table = spread.query_one("#structures", DataTable)
        assert table.display and table.row_count == 2
        assert [str(table.get_row_at(i)[1]) for i in range(2)] == ["632P", "635P"]
        assert "no leg at risk" in str(spread.query_one("#structure-reasons").render())
    plain = app(canned_status())
    async with plain.run_test(size=SIZES["large"]) as pilot:
        await _ready(pilot)
        await pilot.pause(0.1)
        assert not plain.query_one("#structures", DataTable).display


def test_spread_snapshot(snap_compare):
    async def run_before(pilot) -> None:
        await _ready(pilot)
        await pilot.pause(0.1)

    assert snap_compare(app(canned_spread_status()), terminal_size=SIZES["large"], run_before=run_before)
