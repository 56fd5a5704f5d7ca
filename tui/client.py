"""What the terminal UI needs from the service, behind one small interface.

The app only ever calls these three methods, from worker threads: the live implementation talks to the
control socket (every command goes through the service's one audited command path) and reads history
from the audit store read-only; tests hand the app a StaticClient with canned data instead.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from config.schema import Settings
from domain.audit import ActionRecord
from domain.commands import CommandReply
from runtime.control_socket import send_command

# The name the TUI's commands claim, audited beside the kernel's uid ("uid 0 (root) gid 0 pid 42, claims 'tui'").
WHO = "tui"


class Client(Protocol):
    def status(self) -> dict[str, Any]:
        """The service's status dict; raises (ControlSocketError, OSError) when it cannot be had."""

    def command(self, text: str) -> CommandReply:
        """Send one command (mode, kill, resume, close, set) and return the service's reply."""

    def history(self, start: datetime, end: datetime) -> list[ActionRecord]:
        """Audit actions with start <= time < end, oldest first."""


class SocketClient:
    def __init__(self, path: Path, settings: Settings | None, timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.settings = settings
        self.timeout = timeout

    def status(self) -> dict[str, Any]:
        reply = send_command(self.path, "status", timeout=self.timeout, who=WHO)
        if not reply.ok:
            raise RuntimeError(reply.text)
        return reply.data

    def command(self, text: str) -> CommandReply:
        return send_command(self.path, text, timeout=self.timeout, who=WHO)

    def history(self, start: datetime, end: datetime) -> list[ActionRecord]:
        if self.settings is None:
            raise RuntimeError("no configuration: the audit store's location is unknown")
        from gateways.audit import open_store  # imported late: the status view never needs a database driver

        store = open_store(self.settings)  # read only: never migrate from a viewer
        try:
            return store.actions(start, end)
        finally:
            store.close()


class StaticClient:
    """Canned data for snapshot tests and demos: commands are recorded and answered from a table."""

    def __init__(self, status: dict[str, Any], history: list[ActionRecord] | None = None,
                 replies: dict[str, CommandReply] | None = None) -> None:
        self._status = status
        self._history = list(history or [])
        self._replies = dict(replies or {})
        self.sent: list[str] = []
        self._lock = threading.Lock()

    def status(self) -> dict[str, Any]:
        return self._status

    def command(self, text: str) -> CommandReply:
        with self._lock:
            self.sent.append(text)
        return self._replies.get(text, CommandReply(True, f"ok: {text}"))

    def history(self, start: datetime, end: datetime) -> list[ActionRecord]:
        return [record for record in self._history if start <= record.at < end]
