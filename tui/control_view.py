"""Control panel: thresholds and slippage cap, mode, manual close, kill switch and resume.

Nothing here acts by itself: every change is confirmed in a modal, then sent as the same text `ctl`
and Telegram send, through the service's command handler (which validates, executes and audits it).
The reply is shown where the person acted: a refused threshold's reason appears under its field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Input, Label, Static

from domain.commands import CommandReply
from tui.confirm import ConfirmScreen
from tui.format import pct
from tui.status_view import MODE_STYLES
from tui.tables import refresh_rows

Send = Callable[[str, Callable[[CommandReply], None]], None]

# (settings key, label, what a change does, for the confirmation)
FIELDS = (
    ("t30_moneyness", "T-30 moneyness", "warn threshold at T-30"),
    ("t5_moneyness", "T-5 moneyness", "watch threshold at T-5"),
    ("t2_moneyness", "T-2 moneyness", "close threshold at T-2"),
    ("max_slippage", "Max slippage $", "slippage cap per share"),
)
MODE_WARNINGS = {
    "monitor": "The service will assess and alert but never trade.",
    "active": "The service will close positions by the policy (T-5, T-2).",
    "emergency": "The service will close EVERY expiring position NOW.",
}


def reply_text(reply: CommandReply) -> Text:
    if reply.ok:
        return Text(reply.text, style="green")
    return Text(f"refused: {reply.text}", style="bold red")


class ControlView(VerticalScroll):
    DEFAULT_CSS = """
    ControlView { padding: 0 1; }
    ControlView .title { text-style: bold; color: $accent; margin-top: 1; }
    ControlView .row { height: 1; }
    ControlView .row Label { width: 16; }
    ControlView .row Input { width: 12; }
    ControlView .row .current { width: 1fr; padding-left: 2; color: $text-muted; }
    ControlView .message { height: auto; padding-left: 16; }
    ControlView #close-table { height: auto; max-height: 10; }
    """
    BINDINGS = [
        Binding("m", "mode('monitor')", "Monitor"),
        Binding("a", "mode('active')", "Active"),
        Binding("e", "mode('emergency')", "Emergency"),
        Binding("k", "kill", "Kill"),
        Binding("r", "resume", "Resume"),
        Binding("x", "close_selected", "Close"),
        Binding("escape", "leave_field", "Leave field", show=False),
    ]

    def __init__(self, send: Send, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.send = send
        self.status: Mapping[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="state")
        yield Static(Text("m/a/e switch mode, k engages the kill switch, r resumes (and resets the breaker)"),
                     classes="help")
        yield Static("Thresholds (type a value, Enter to apply; Esc leaves the field):", classes="title")
        for key, label, _ in FIELDS:
            with Horizontal(classes="row"):
                yield Label(label)
                yield Input(id=f"set-{key}", compact=True, select_on_focus=True)
                yield Static(classes="current", id=f"now-{key}")
            yield Static(id=f"msg-{key}", classes="message").set_styles("display: none;")
        yield Static("Close one position by hand (select it, then Enter or x):", classes="title")
        table: DataTable = DataTable(id="close-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("Contract", "Qty", "Moneyness", "Action")
        yield table
        yield Static(id="reply")

    # --- live data ---------------------------------------------------------------------------------
    def show(self, status: Mapping[str, Any]) -> None:
        self.status = status
        mode = str(status.get("mode", "?"))
        state = Text("Mode: ").append(mode.upper(), style=MODE_STYLES.get(mode, "bold"))
        state.append(" | Kill switch: ").append(*(("ON", "bold white on red") if status.get("kill_switch")
                                                   else ("off", "")))
        state.append(" | Breaker: ").append(*(("TRIPPED", "bold white on red") if status.get("breaker_tripped")
                                               else ("ok", "")))
        self.query_one("#state", Static).update(state)
        thresholds = status.get("thresholds") or {}
        for key, _, _ in FIELDS:
            value = thresholds.get(key)
            shown = "" if value is None else f"{value:g}"
            self.query_one(f"#now-{key}", Static).update(f"now {shown}")
            field = self.query_one(f"#set-{key}", Input)
            if not field.has_focus:  # never overwrite what the person is typing
                field.value = shown
        rows = [(str(p.get("contract")), [str(p.get("contract")), str(p.get("quantity", "?")),
                                          pct(p.get("moneyness")), str(p.get("action", ""))])
                for p in status.get("positions_at_risk") or []]
        refresh_rows(self.query_one("#close-table", DataTable), rows)

    # --- actions -----------------------------------------------------------------------------------
    def confirm_then_send(self, question: str, command: str, shown_in: str = "#reply") -> None:
        def answered(yes: bool | None) -> None:
            target = self.query_one(shown_in, Static)
            target.display = True
            if not yes:
                target.update(Text(f"cancelled: {command}", style="dim"))
                return
            target.update(Text(f"sending: {command} ...", style="dim"))
            self.send(command, lambda reply: target.update(reply_text(reply)))

        self.app.push_screen(ConfirmScreen(question), answered)

    def action_mode(self, mode: str) -> None:
        self.confirm_then_send(f"Switch to {mode.upper()} mode?\n{MODE_WARNINGS[mode]}", f"mode {mode}")

    def action_kill(self) -> None:
        self.confirm_then_send("Engage the KILL SWITCH?\nNo automated order is sent until resume.", "kill")

    def action_resume(self) -> None:
        self.confirm_then_send("Resume automated trading?\nReleases the kill switch and resets the circuit "
                               "breaker.", "resume")

    def action_close_selected(self) -> None:
        table = self.query_one("#close-table", DataTable)
        if not table.row_count:
            self.query_one("#reply", Static).update(Text("no open position to close", style="yellow"))
            return
        key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        position: Mapping[str, Any] = next(
            (p for p in self.status.get("positions_at_risk") or [] if p.get("contract") == key), {})
        self.confirm_then_send(f"Close {key} by hand now?\nQuantity {position.get('quantity', '?')}, moneyness "
                               f"{pct(position.get('moneyness'))}. The service sends a closing order.",
                               f"close {key}")

    def action_leave_field(self) -> None:
        self.query_one("#close-table", DataTable).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_close_selected()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        key = (event.input.id or "").removeprefix("set-")
        label = next((what for name, _, what in FIELDS if name == key), key)
        value = event.value.strip()
        current = (self.status.get("thresholds") or {}).get(key)
        self.confirm_then_send(f"Change the {label}?\n{key}: {current} -> {value or '(empty)'}",
                               f"set {key} {value or '?'}", shown_in=f"#msg-{key}")
