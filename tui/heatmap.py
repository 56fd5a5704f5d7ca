"""Moneyness heat map: per underlying, the positions ordered by strike with its price placed among them,
coloured by moneyness.

One cell per position (``638C +0.33% ITM``); the bucket word repeats what the colour says. Cells
wrap to the width of the terminal without ever splitting one, so it fits 80 columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.widget import Widget

from tui.format import bucket, pct

PRICE_STYLE = "bold reverse"


def groups(status: Mapping[str, Any]) -> list[list[Text]]:
    """One row of cells per underlying, the primary first: its positions by strike with the price they
    were judged on placed among them (the primary's price is shown even without positions)."""
    thresholds = status.get("thresholds") or {}
    primary = str(status.get("symbol") or "SPY")
    entries: dict[str, list[tuple[float, int, Text]]] = {}
    prices: dict[str, float] = {}
    if isinstance(status.get("spot"), int | float):
        prices[primary] = float(status["spot"])
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
        entries.setdefault(parts[0], []).append((strike, 1, Text(f" {parts[2]} {pct(moneyness)} {label} ",
                                                                 style=style)))
        if isinstance(position.get("spot"), int | float):
            prices[parts[0]] = float(position["spot"])
    for symbol, spot in prices.items():
        # ties sort the price first: a strike equal to it is drawn to its right
        entries.setdefault(symbol, []).append((spot, 0, Text(f"|{symbol} {spot:.2f}|", style=PRICE_STYLE)))
    order = sorted(entries, key=lambda symbol: (symbol != primary, symbol))
    return [[text for _, _, text in sorted(entries[symbol], key=lambda entry: (entry[0], entry[1]))]
            for symbol in order]


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
        self._groups: list[list[Text]] = []

    def show(self, status: Mapping[str, Any]) -> None:
        self._groups = groups(status)
        self.refresh(layout=True)

    def _lines(self, width: int) -> list[Text]:
        if not self._groups:
            return [Text("no positions (or no price yet)", style="dim")]
        return [line for cells in self._groups for line in layout(cells, max(width, 20))]

    def get_content_height(self, container, viewport, width: int) -> int:  # noqa: ANN001 (textual's signature)
        return len(self._lines(width))

    def render(self) -> Text:
        return Text("\n").join(self._lines(self.content_size.width))
