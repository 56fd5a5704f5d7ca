"""Refreshing a DataTable once a second without losing the person's place in it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.widgets import DataTable


def refresh_rows(table: DataTable, rows: Sequence[tuple[str, Sequence[Any]]]) -> None:
    """Update cells in place when the same rows are shown again; otherwise rebuild, keeping the cursor's row."""
    keys = [key for key, _ in rows]
    current = [row_key.value for row_key in table.rows]
    if keys == current:
        columns = list(table.columns)
        for key, cells in rows:
            for column, value in zip(columns, cells, strict=False):
                table.update_cell(key, column, value)
        return
    selected = None
    if table.row_count and 0 <= table.cursor_row < table.row_count:
        selected = current[table.cursor_row]
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if selected in keys:
        table.move_cursor(row=keys.index(selected))
