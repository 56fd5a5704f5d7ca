"""Snapshots of the three views at 80x24 and at a large size, on canned data so they never drift.

Regenerate after an intended change with: .venv/bin/pytest tests/test_tui_snapshots.py --snapshot-update
(then look at the SVGs in tests/__snapshots__/ before committing them).
"""

from __future__ import annotations

import pytest

from tests.support.tui import canned_history, canned_morning_history, canned_replies, canned_status
from tui.app import CleanupApp
from tui.client import StaticClient
from tui.history_view import HistoryView

SIZES = {"small": (80, 24), "large": (140, 45)}


def make_app(history=None) -> CleanupApp:
    client = StaticClient(canned_status(), canned_history() if history is None else history, canned_replies())
    return CleanupApp(client, refresh_seconds=3600)  # one poll at start: the screen cannot change under the test


async def _ready(pilot) -> None:
    app = pilot.app
    for _ in range(200):
        if app.last_status is not None:
            break
        await pilot.pause(0.02)
    assert app.last_status is not None


def before(view: str, day: str = "2026-11-24"):
    async def run_before(pilot) -> None:
        await _ready(pilot)
        if view == "history":
            await pilot.press("2")
            history = pilot.app.query_one(HistoryView)
            history.query_one("#from").value = day
            history.query_one("#to").value = day
            history.action_load()
            for _ in range(200):
                if history.records:
                    break
                await pilot.pause(0.02)
        elif view == "control":
            await pilot.press("3")
        await pilot.pause(0.1)

    return run_before


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("view", ["status", "history", "control"])
def test_view_snapshot(snap_compare, view, size):
    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=before(view))


def test_refused_threshold_snapshot(snap_compare):
    """The reason for a refusal sits under the field the person typed in."""
    async def run_before(pilot) -> None:
        await before("control")(pilot)
        field = pilot.app.query_one("#set-t2_moneyness")
        field.focus()
        field.value = "0.5"
        await pilot.press("enter")
        await pilot.pause(0.1)
        await pilot.press("y")
        for _ in range(100):
            if "must be a fraction" in str(pilot.app.query_one("#msg-t2_moneyness").render()):
                break
            await pilot.pause(0.02)
        pilot.app.query_one("#close-table").focus()
        await pilot.pause(0.1)

    assert snap_compare(make_app(), terminal_size=SIZES["small"], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_history_shows_the_mornings_outcome_snapshot(snap_compare, size):
    """The morning after an expiration: what was delivered, its exposure and margin, and the disposal at the open."""
    app = make_app(canned_history() + canned_morning_history())
    assert snap_compare(app, terminal_size=SIZES[size], run_before=before("history", "2026-11-27"))
