"""Status view: the seed's example layout, live: mode and time to the close, positions, heat map, queue."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from domain.session import EASTERN
from domain.structure_view import at_spot_text, reach_text
from tui.format import countdown, on_off, parse_instant, pct, price, probability, risk_style, two_zones, zone
from tui.heatmap import HeatMap
from tui.queue import DONE, DUE, HALTED, MONITOR, PENDING, WORKING, action_queue
from tui.tables import refresh_rows

MODE_STYLES = {"active": "bold green", "monitor": "bold cyan", "emergency": "bold white on red"}
STATE_STYLES = {PENDING: "yellow", DUE: "bold red", WORKING: "bold magenta", DONE: "dim",
                MONITOR: "cyan", HALTED: "bold white on red"}
COLUMNS = ("Contract", "Qty", "Moneyness", "Spot", "P(exercise)", "Risk", "Action")
STRUCTURE_COLUMNS = ("Structure", "Leg", "Qty", "Plan", "Net shares delivered by settlement price", "Now",
                     "By 17:30 ET")
PLAN_STYLES = {"left alone": "bold cyan", "close as combo": "bold magenta", "short legs first, longs held": "bold red",
               "close legs": "bold red"}


def summary(status: Mapping[str, Any], trader_tz: str | None = None) -> Text:
    """The header block: what a trader woken at 04:40 HKT needs in three lines."""
    trader = zone(status.get("trader_tz") or trader_tz)
    mode = str(status.get("mode", "?"))
    text = Text()
    text.append("Mode: ").append(mode.upper(), style=MODE_STYLES.get(mode, "bold"))
    text.append(f" | Stage: {status.get('stage', '?')} | Time to close: ")
    text.append(countdown(status.get("minutes_to_close")), style="bold")
    text.append(f"\nClose {two_zones(parse_instant(status.get('close')), trader)}"
                f" | Now {two_zones(parse_instant(status.get('now')), trader, with_seconds=True)}")
    spot = status.get("spot")
    age = status.get("quote_age_seconds")
    text.append(f"\n{status.get('symbol') or 'SPY'} {price(spot)}")
    source = status.get("price_source") or "no source"
    text.append(f" ({source}, {age:.1f}s old)" if isinstance(age, int | float) else f" ({source}, no quote)")
    text.append(" | Broker: ")
    connected = bool(status.get("broker_connected"))
    text.append(on_off(connected, "connected", "DISCONNECTED"), style="" if connected else "bold white on red")
    text.append(" | Breaker: ")
    tripped = bool(status.get("breaker_tripped"))
    text.append(on_off(tripped, "TRIPPED", "ok"), style="bold white on red" if tripped else "")
    text.append(" | Kill: ")
    killed = bool(status.get("kill_switch"))
    text.append(on_off(killed, "ON", "off"), style="bold white on red" if killed else "")
    others = other_underlyings(status)
    if others:
        text.append("\nAlso: " + " | ".join(others))
    unwatched = status.get("unwatched") or []
    if unwatched:
        text.append("\nNot watched (cash-settled): " + ", ".join(str(key) for key in unwatched), style="yellow")
    return text


def other_underlyings(status: Mapping[str, Any]) -> list[str]:
    """The held positions' underlyings besides the primary, each with its price and its age."""
    spots = status.get("spots") or {}
    ages = status.get("spot_ages_seconds") or {}
    primary = status.get("symbol") or "SPY"
    shown = []
    for symbol in sorted(set(spots) - {primary}):
        shown.append(f"{symbol} {price(spots[symbol])}"
                     + (f" ({ages[symbol]:.1f}s old)" if isinstance(ages.get(symbol), int | float) else ""))
    return shown


def position_rows(status: Mapping[str, Any]) -> list[tuple[str, list[Any]]]:
    rows = []
    for item in status.get("positions_at_risk") or []:
        level = str(item.get("risk", "?"))
        action = str(item.get("action") or "none")
        rows.append((str(item.get("contract", "?")), [
            str(item.get("contract", "?")),
            Text(str(item.get("quantity", "?")), justify="right"),
            Text(pct(item.get("moneyness")), justify="right"),
            Text(price(item.get("spot")), justify="right"),
            Text(probability(item.get("probability_itm")), justify="right"),
            Text(level, style=risk_style(level)),
            "-" if action == "none" else action.upper(),
        ]))
    return rows


def structure_rows(status: Mapping[str, Any]) -> list[tuple[str, list[Any]]]:
    """One row per leg of each multi-leg structure; its plan, delivery and reach on its first leg's row."""
    rows: list[tuple[str, list[Any]]] = []
    for item in status.get("structures") or []:
        name = str(item.get("name", "?"))
        expiry = str(item.get("expiry") or "").replace("-", "")
        title = " ".join(str(part) for part in (item.get("kind", "?"), item.get("symbol", "?"), expiry) if part)
        label = str((item.get("plan") or {}).get("label") or "?")
        first = [title, Text(label, style=PLAN_STYLES.get(label, "")), str(item.get("profile_text") or "n/a"),
                 at_spot_text(item, unit=""), reach_text(item, unit="")]
        for index, leg in enumerate(item.get("legs") or []):
            quantity = leg.get("quantity")
            shown = first if index == 0 else ["", "", "", "", ""]
            rows.append((f"{name}|{leg.get('contract', index)}", [
                shown[0],
                str(leg.get("contract", "?")).split(" ")[-1],
                Text(f"{quantity:+d}" if isinstance(quantity, int) else "?", justify="right",
                     style="red" if leg.get("short") else "green"),
                *shown[1:],
            ]))
    return rows


def structure_reasons(status: Mapping[str, Any]) -> Text:
    """Under the table: each structure by its name (legs and signed quantities) and why the plan is what it is."""
    text = Text()
    for index, item in enumerate(status.get("structures") or []):
        if index:
            text.append("\n")
        text.append(f"{item.get('name', '?')}: ", style="bold")
        text.append(str((item.get("plan") or {}).get("reason") or "?"))
    return text


def queue_text(status: Mapping[str, Any]) -> Text:
    items = action_queue(status)
    if not items:
        return Text("nothing scheduled", style="dim")
    text = Text()
    for index, item in enumerate(items):
        if index:
            text.append("\n")
        text.append(f"[{item.at.astimezone(EASTERN):%H:%M:%S}] {item.text} - ")
        text.append(item.state, style=STATE_STYLES.get(item.state, ""))
    return text


class StatusView(VerticalScroll):
    DEFAULT_CSS = """
    StatusView { padding: 0 1; }
    StatusView .title { text-style: bold; color: $accent; }
    StatusView #positions { height: auto; max-height: 12; }
    StatusView #structures { height: auto; max-height: 12; }
    """

    def __init__(self, trader_tz: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.trader_tz = trader_tz

    def compose(self) -> ComposeResult:
        yield Static("connecting to the service...", id="connection")
        yield Static(id="summary")
        yield Static("Positions at risk:", classes="title")
        table: DataTable = DataTable(id="positions", show_cursor=False, zebra_stripes=True, cursor_type="row")
        table.add_columns(*COLUMNS)
        yield table
        # Shown only while there is a multi-leg structure among the expiring positions.
        title = Static("Multi-leg structures:", classes="title", id="structures-title")
        structures: DataTable = DataTable(id="structures", show_cursor=False, zebra_stripes=True, cursor_type="row")
        structures.add_columns(*STRUCTURE_COLUMNS)
        reasons = Static(id="structure-reasons")
        title.display = structures.display = reasons.display = False
        yield title
        yield structures
        yield reasons
        yield Static("Moneyness by strike:", classes="title")
        yield HeatMap(id="heat")
        yield Static("Actions queue (ET):", classes="title")
        yield Static(id="queue")

    def show(self, status: Mapping[str, Any]) -> None:
        self.query_one("#summary", Static).update(summary(status, self.trader_tz))
        refresh_rows(self.query_one("#positions", DataTable), position_rows(status))
        rows = structure_rows(status)
        refresh_rows(self.query_one("#structures", DataTable), rows)
        self.query_one("#structures", DataTable).display = bool(rows)
        self.query_one("#structures-title", Static).display = bool(rows)
        reasons = self.query_one("#structure-reasons", Static)
        reasons.update(structure_reasons(status))
        reasons.display = bool(rows)
        self.query_one("#heat", HeatMap).show(status)
        self.query_one("#queue", Static).update(queue_text(status))

    def connection(self, problem: str | None) -> None:
        """One line above everything: empty while connected, the reason in red when not."""
        line = self.query_one("#connection", Static)
        line.display = bool(problem)
        if problem:
            line.update(Text(f"NOT CONNECTED: {problem} (showing the last status received)",
                             style="bold white on red"))
