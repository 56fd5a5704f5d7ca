"""Moneyness heat map: the positions ordered by strike with SPY placed among them, coloured by moneyness.

One cell per position (``638C +0.33% ITM``); the bucket word repeats what the colour says. Cells
wrap to the width of the terminal without ever splitting one, so it fits 80 columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.widget import Widget

from tui.format import bucket, pct

SPY_STYLE = "bold reverse"


def cells(status: Mapping[str, Any]) -> list[Text]:
    thresholds = status.get("thresholds") or {}
    entries: list[tuple[float, int, Text]] = []
    for position in status.get("positions_at_risk") or []:
        parts = str(position.get("contract", "")).split()
        moneyness = position.get("moneyness")
        if len(parts) != 3 or not isinstance(moneyness, int | float):
            continue
        try:
            strike = float(parts[2][:-1])
        except ValueError:
            continue
        label, style = bucket(moneyness, thresholds)
        entries.append((strike, 1, Text(f" {parts[2]} {pct(moneyness)} {label} ", style=style)))
    spot = status.get("spot")
    if isinstance(spot, int | float):
        # ties sort SPY first: a strike equal to spot is drawn to its right
        entries.append((float(spot), 0, Text(f"|SPY {spot:.2f}|", style=SPY_STYLE)))
    return [text for _, _, text in sorted(entries, key=lambda entry: (entry[0], entry[1]))]


def layout(items: list[Text], width: int) -> list[Text]:
    lines: list[Text] = []
    line = Text()
    for item in items:
        if line.cell_len and line.cell_len + 1 + item.cell_len > width:
            lines.append(line)
            line = Text()
        if line.cell_len:
            line.append(" ")
        line.append_text(item)
    if line.cell_len or not lines:
        lines.append(line)
    return lines


class HeatMap(Widget):
    DEFAULT_CSS = "HeatMap { height: auto; }"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cells: list[Text] = []

    def show(self, status: Mapping[str, Any]) -> None:
        self._cells = cells(status)
        self.refresh(layout=True)

    def _lines(self, width: int) -> list[Text]:
        if not self._cells:
            return [Text("no positions (or no SPY price yet)", style="dim")]
        return layout(self._cells, max(width, 20))

    def get_content_height(self, container, viewport, width: int) -> int:  # noqa: ANN001 (textual's signature)
        return len(self._lines(width))

    def render(self) -> Text:
        return Text("\n").join(self._lines(self.content_size.width))
