"""Historical view: past cleanup actions from the audit store, with the numbers `cleanup-manager report` prints.

A morning check of the previous expiration (what it delivered, the exposure and margin) and the disposal of those
shares at the open are lines of their own under the totals, as in the report (DaySummary.morning).

The summary is computed by domain.report (summarize_day per New York session day), the same code the
report uses, so the two always agree. The terminal UI's own once-a-second status reads are audited
commands too; they count in the numbers (as in the report) but are hidden from the table unless asked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, Static

from domain.audit import ActionKind, ActionRecord
from domain.report import DaySummary, daily_summaries
from domain.session import EASTERN

Load = Callable[[datetime, datetime, Callable[[list[ActionRecord] | str], None]], None]
COLUMNS = ("Time ET", "Action", "Contract", "Qty", "Price", "Result", "Reason")


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[start of first, start of the day after last) in New York, as `report --date --days` reads."""
    return datetime.combine(first, time(), EASTERN), datetime.combine(last + timedelta(days=1), time(), EASTERN)


def is_status_read(record: ActionRecord) -> bool:
    return record.action is ActionKind.COMMAND and str(record.details.get("command", "")).strip() == "status"


def money(amount: float) -> str:
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"


def totals_text(summaries: Sequence[DaySummary]) -> Text:
    actions = sum(s.actions for s in summaries)
    ok, failed = sum(s.successful for s in summaries), sum(s.failed for s in summaries)
    rate = f"{ok / (ok + failed):.1%}" if ok + failed else "n/a"
    text = Text()
    text.append(f"{actions} actions, {ok} succeeded, {failed} failed (success rate {rate})\n", style="bold")
    text.append(f"contracts closed {sum(s.contracts_closed for s in summaries)} | exercise avoided "
                f"{money(sum(s.exercise_avoided for s in summaries))} | P&L impact "
                f"{money(round(sum(s.pnl_impact for s in summaries), 2))}")
    if len(summaries) > 1:
        for s in summaries:
            day_rate = "n/a" if s.success_rate is None else f"{s.success_rate:.0%}"
            text.append(f"\n  {s.day.isoformat()}: {s.actions} actions, {day_rate} ok, {s.contracts_closed} "
                        f"closed, {money(s.exercise_avoided)} avoided, P&L {money(s.pnl_impact)}")
    for s in summaries:  # the morning check of the previous expiration, and any disposal at the open
        for line in s.morning:
            text.append(f"\nmorning {s.day.isoformat()}: {line}", style="bold yellow")
    return text


def contract_text(record: ActionRecord) -> str:
    if record.strike is None:
        return record.symbol or "-"
    return f"{record.symbol} {record.strike:g}{record.right or ''}"


def record_row(record: ActionRecord) -> list[Any]:
    results: dict[bool | None, Text] = {True: Text("ok", style="green"), False: Text("FAIL", style="bold red")}
    result = results.get(record.success, Text("-"))
    price = record.execution_price
    return [f"{record.at.astimezone(EASTERN):%m-%d %H:%M:%S}", record.action.value, contract_text(record),
            "" if record.quantity is None else str(record.quantity), "" if price is None else f"{price:.2f}",
            result, (record.error or record.reason or "")[:120]]


class HistoryView(Vertical):
    DEFAULT_CSS = """
    HistoryView { padding: 0 1; }
    HistoryView #filter { height: 1; }
    HistoryView #filter Label { padding: 0 1 0 0; }
    HistoryView #filter Input { width: 12; margin-right: 2; }
    HistoryView #totals { height: auto; max-height: 8; margin-top: 1; }
    HistoryView #actions { height: 1fr; }
    """
    BINDINGS = [
        Binding("f", "edit_dates", "Dates"),
        Binding("l", "load", "Load"),
        Binding("t", "toggle_reads", "Status reads"),
        Binding("escape", "leave_field", "Leave field", show=False),
    ]

    def __init__(self, load: Load, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.load = load
        self.records: list[ActionRecord] = []
        self.show_reads = False
        self.loaded = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="filter"):
            yield Label("From")
            yield Input(id="from", placeholder="YYYY-MM-DD", compact=True, max_length=10)
            yield Label("To")
            yield Input(id="to", placeholder="YYYY-MM-DD", compact=True, max_length=10)
            yield Label("f edits, Enter loads", classes="hint")
        yield Static("no history loaded yet", id="totals")
        table: DataTable = DataTable(id="actions", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table

    def set_default_day(self, day: date) -> None:
        for field_id in ("#from", "#to"):
            field = self.query_one(field_id, Input)
            if not field.value:
                field.value = day.isoformat()

    def action_load(self) -> None:
        try:
            first = date.fromisoformat(self.query_one("#from", Input).value.strip())
            last = date.fromisoformat(self.query_one("#to", Input).value.strip() or str(first))
        except ValueError:
            self.query_one("#totals", Static).update(Text("dates must look like 2026-11-27", style="bold red"))
            return
        if last < first:
            self.query_one("#totals", Static).update(Text("'To' is before 'From'", style="bold red"))
            return
        self.query_one("#totals", Static).update(Text("loading ...", style="dim"))
        self.load(*day_bounds(first, last), lambda result: self._loaded(first, last, result))

    def _loaded(self, first: date, last: date, result: list[ActionRecord] | str) -> None:
        self.loaded = True
        totals = self.query_one("#totals", Static)
        if isinstance(result, str):
            totals.update(Text(f"cannot read the audit store: {result}", style="bold red"))
            return
        self.records = result
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        text = totals_text(daily_summaries(result, days=days))
        reads = sum(1 for r in result if is_status_read(r))
        if reads and not self.show_reads:
            text.append(f"\n{reads} status reads hidden below (t shows them)", style="dim")
        totals.update(text)
        self._fill()

    def _fill(self) -> None:
        table = self.query_one("#actions", DataTable)
        table.clear()
        for index, record in enumerate(self.records):
            if self.show_reads or not is_status_read(record):
                table.add_row(*record_row(record), key=f"{index}:{record.action_id}")

    def action_toggle_reads(self) -> None:
        self.show_reads = not self.show_reads
        self._fill()

    def action_edit_dates(self) -> None:
        self.query_one("#from", Input).focus()

    def action_leave_field(self) -> None:
        self.query_one("#actions", DataTable).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_load()

