"""`ctl close` against the real service during a simulated afternoon: a refusal exits non-zero."""

from __future__ import annotations

import json
from datetime import time

from cli.main import main
from config import load_settings
from domain.session import EASTERN
from runtime.control import control_plane
from simulation import runner
from simulation.scenario import load_scenario
from tests.e2e.test_simulation_e2e import SCENARIOS


def test_ctl_close_without_a_position_exits_non_zero_with_the_services_answer(tmp_path, capsys):
    raw = json.loads((SCENARIOS / "default.json").read_text()) | {"start": "15:54"}
    (tmp_path / "scenario.json").write_text(json.dumps(raw))
    scenario = load_scenario(tmp_path / "scenario.json")
    settings = load_settings(environ={}, flags={"data_dir": str(tmp_path / "data"), "metrics_port": 0}).settings
    settings = runner.simulation_settings(settings, scenario, None)
    socket = str(settings.control_socket_path)
    answers: dict[str, tuple[int, str, str]] = {}

    def ctl(*words: str) -> tuple[int, str, str]:
        code = main(["ctl", "--socket", socket, "close", *words])
        out, err = capsys.readouterr()
        return code, out.strip(), err.strip()

    def at(progress: runner.Progress) -> None:
        if progress.now.astimezone(EASTERN).time() == time(15, 54, 30):  # positions known, nothing closed yet
            answers["none"] = ctl("SPY 20261125 999C")
            answers["held"] = ctl("SPY 20261125 650C")  # far out of the money: the policy leaves it alone

    result = runner.run_simulation(scenario, settings, on_progress=at,
                                   on_started=lambda service: control_plane(service, settings))
    assert answers["none"] == (1, "", "refused: close failed: no open position in SPY 20261125 999C")
    assert answers["held"] == (0, "closing 1 SPY 20261125 650C (SELL)", "")
    assert {r.position.contract.key: r.outcome.value for r in result.results}["SPY 20261125 650C"] == "closed"
    refused = [a for a in result.actions if a.action.value == "command" and not a.success]
    assert [a.reason.split(": ", 1)[1] for a in refused] == [
        "close SPY 20261125 999C -> refused: close failed: no open position in SPY 20261125 999C"]
