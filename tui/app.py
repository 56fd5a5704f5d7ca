"""The terminal UI: three views over one client of the control socket.

All I/O (status once a second, commands, history queries) runs on worker threads and comes back to
the UI thread with call_from_thread, so a slow or dead service never freezes the screen.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, TabbedContent, TabPane

from domain.audit import ActionRecord
from domain.commands import CommandReply
from domain.session import EASTERN
from tui.client import Client
from tui.control_view import ControlView
from tui.format import parse_instant
from tui.history_view import HistoryView
from tui.status_view import StatusView

REFRESH_SECONDS = 1.0


class CleanupApp(App):
    TITLE = "Cleanup Manager"
    CSS = "TabPane { padding: 0; }"
    BINDINGS = [
        # The tab labels show these keys; the footer keeps its width for the view's own keys.
        Binding("1", "view('status')", "Status", show=False),
        Binding("2", "view('history')", "History", show=False),
        Binding("3", "view('control')", "Control", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, client: Client, *, refresh_seconds: float = REFRESH_SECONDS, trader_tz: str | None = None,
                 subtitle: str = "") -> None:
        super().__init__()
        self.client = client
        self.refresh_seconds = refresh_seconds
        self.trader_tz = trader_tz
        self.sub_title = subtitle
        self.last_status: dict[str, Any] | None = None
        self.last_error: str | None = None
        self.polls = 0  # completed status polls, ok or not (tests wait on it)
        self._polling = threading.Lock()

    def compose(self) -> ComposeResult:
        yield Header(icon="")
        with TabbedContent(initial="status"):
            with TabPane("1 Status", id="status"):
                yield StatusView(trader_tz=self.trader_tz, id="status-view")
            with TabPane("2 History", id="history"):
                yield HistoryView(self.load_history, id="history-view")
            with TabPane("3 Control", id="control"):
                yield ControlView(self.send, id="control-view")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.poll()
        self.set_interval(self.refresh_seconds, self.poll)

    # --- views -------------------------------------------------------------------------------------
    def action_view(self, name: str) -> None:
        self.query_one(TabbedContent).active = name
        self._focus_view(name)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._focus_view(event.pane.id or "status")

    def _focus_view(self, name: str) -> None:
        """Focus inside the view so its keys (and only its keys) show in the footer."""
        if name == "status":
            self.query_one(StatusView).focus()
        elif name == "history":
            view = self.query_one(HistoryView)
            view.query_one("#actions", DataTable).focus()
            if not view.loaded:
                view.action_load()
        else:
            self.query_one(ControlView).query_one("#close-table", DataTable).focus()

    # --- status, once a second on a worker thread ----------------------------------------------------
    def poll(self) -> None:
        if self._polling.acquire(blocking=False):  # never queue polls behind a slow service
            self.run_worker(self._fetch_status, thread=True, group="status", exit_on_error=False)

    def _fetch_status(self) -> None:
        try:
            try:
                data: dict[str, Any] | None = self.client.status()
                error = None
            except Exception as failure:  # unreachable, refused, timed out: shown, then retried next second
                data, error = None, str(failure) or type(failure).__name__
            self._from_thread(self._status_arrived, data, error)
        finally:
            self._polling.release()

    def _status_arrived(self, data: dict[str, Any] | None, error: str | None) -> None:
        self.polls += 1
        self.last_error = error
        status_view = self.query_one(StatusView)
        status_view.connection(error)
        if data is None:
            return
        first = self.last_status is None
        self.last_status = data
        status_view.show(data)
        self.query_one(ControlView).show(data)
        now = parse_instant(data.get("now"))
        if first and now is not None:  # the history defaults to the session's day, simulated or real
            self.query_one(HistoryView).set_default_day(now.astimezone(EASTERN).date())

    # --- commands and history, on worker threads ------------------------------------------------------
    def send(self, text: str, on_reply: Callable[[CommandReply], None]) -> None:
        def work() -> None:
            try:
                reply = self.client.command(text)
            except Exception as failure:
                reply = CommandReply(False, f"not sent: {failure}")
            self._from_thread(on_reply, reply)
            self._from_thread(self.poll)  # show the effect at once, not up to a second later

        self.run_worker(work, thread=True, group="commands", exit_on_error=False)

    def load_history(self, start: datetime, end: datetime,
                     on_done: Callable[[list[ActionRecord] | str], None]) -> None:
        def work() -> None:
            try:
                result: list[ActionRecord] | str = self.client.history(start, end)
            except Exception as failure:
                result = str(failure) or type(failure).__name__
            self._from_thread(on_done, result)

        self.run_worker(work, thread=True, group="history", exit_on_error=False)

    def _from_thread(self, callback: Callable[..., Any], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the app is shutting down; nobody is left to show it to
            self.call_from_thread(callback, *args)
