"""`simulate --tui`: the simulation on a background thread, the terminal UI in the foreground on its socket.

The UI is the same client `cleanup-manager tui` runs; only the process is shared. The screen belongs
to the UI, so the simulation's logs go to a file instead of the terminal.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from config.schema import Settings
from gateways.metrics import Metrics, start_metrics_server
from runtime.control import control_plane
from simulation import runner
from simulation.scenario import Scenario

TUI_SPEED = 20.0  # an afternoon's last 40 minutes in 2 minutes: fast, yet each stage can be watched
SOCKET_WAIT_SECONDS = 60.0


def simulate_with_tui(scenario: Scenario, settings: Settings, speed: float) -> runner.SimulationResult:
    speed = speed or TUI_SPEED
    run = runner.prepare_run(settings)
    log_file = run.directory / "simulate.log"  # the run's own directory, never the service's data_dir
    logging.basicConfig(level=logging.INFO, filename=log_file, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    outcome: dict[str, Any] = {}
    metrics = Metrics()

    def simulate() -> None:
        try:
            with start_metrics_server(metrics, settings.metrics_host, settings.metrics_port):
                outcome["result"] = runner.run_simulation(
                    scenario, settings, speed=speed, metrics=metrics, run=run,
                    on_started=lambda service: control_plane(service, settings))
        except BaseException as error:  # handed to the main thread, which re-raises it after the UI
            outcome["error"] = error

    thread = threading.Thread(target=simulate, name="simulation", daemon=True)
    thread.start()
    path = settings.control_socket_path
    deadline = time.monotonic() + SOCKET_WAIT_SECONDS
    while thread.is_alive() and not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if path.exists() and thread.is_alive():
        from tui.app import CleanupApp
        from tui.client import SocketClient

        CleanupApp(SocketClient(path, settings), trader_tz=settings.trader_tz,
                   subtitle=f"simulation at {speed:g}x: {scenario.name}").run()
    if thread.is_alive():
        print(f"waiting for the simulated afternoon to end (Ctrl+C aborts; log: {log_file}) ...", flush=True)
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
