"""The real program in a real terminal: tmux runs it, send-keys types, capture-pane reads the screen.

tmux runs on a private server (-L) so the tests never touch a tmux the person is using.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.tui import PROGRAM, ROOT, simulated_session

TMUX = shutil.which("tmux") or "/usr/bin/tmux"
pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(not os.path.exists(TMUX), reason="tmux is not installed")]


class Terminal:
    def __init__(self, command: list[str], width: int = 80, height: int = 24) -> None:
        self.server = f"ocm-tui-{os.getpid()}-{time.monotonic_ns()}"
        self.tmux([
            "new-session", "-d", "-s", "ui", "-x", str(width), "-y", str(height),
            f"cd {shlex.quote(str(ROOT))} && {shlex.join(command)}; echo EXITED=$?; sleep 60"])

    def tmux(self, args: list[str]) -> str:
        return subprocess.run([TMUX, "-L", self.server, *args], check=True, capture_output=True, text=True,
                              timeout=10).stdout

    def screen(self) -> str:
        return self.tmux(["capture-pane", "-p", "-t", "ui"])

    def keys(self, *keys: str) -> None:
        self.tmux(["send-keys", "-t", "ui", *keys])

    def wait_for(self, *texts: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(text in screen for text in texts):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{texts} not on the screen within {timeout:g} s; it shows:\n{screen}")

    def close(self) -> None:
        subprocess.run([TMUX, "-L", self.server, "kill-server"], capture_output=True, timeout=10)


def test_tui_attaches_to_a_running_simulation_and_shows_the_status_panel():
    with simulated_session(speed=20) as session:
        terminal = Terminal([*PROGRAM, "tui", "--socket", str(session.socket), "--set", f"data_dir={session.data_dir}"])
        try:
            screen = terminal.wait_for("Positions at risk:", "SPY 20261125 641P", "Time to close:")
            assert "Mode: ACTIVE" in screen and "Actions queue (ET):" in screen and "HKT" in screen
            terminal.keys("q")
            terminal.wait_for("EXITED=0", timeout=10)
        finally:
            terminal.close()


def test_simulate_with_tui_runs_the_afternoon_under_the_ui_and_prints_the_summary_after():
    data_dir = Path(tempfile.mkdtemp(prefix="ocm-tui-", dir="/tmp"))
    terminal = Terminal([*PROGRAM, "simulate", "--tui", "--speed", "150", "--set", f"data_dir={data_dir}",
                         "--set", f"simulation_dir={data_dir / 'simulations'}", "--set", "metrics_port=0"],
                        width=100, height=30)
    try:
        terminal.wait_for("Positions at risk:", "SPY 20261125 638C", "simulation at 150x")
        terminal.keys("q")
        # the afternoon goes on to its end after the UI closes, then the usual summary is printed
        screen = terminal.wait_for("EXITED=", timeout=60)
        assert "EXITED=0" in screen
        assert "orders sent" in screen  # the last line of the simulation summary
    finally:
        terminal.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_tui_with_nothing_listening_says_so_in_one_line_and_fails(tmp_path):
    missing = tmp_path / "control.sock"
    result = subprocess.run([*PROGRAM, "tui", "--socket", str(missing)], cwd=ROOT, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 3
    assert result.stderr.strip() == f"tui: no cleanup-manager is listening on {missing}: is the service running?"
    assert result.stdout == ""
