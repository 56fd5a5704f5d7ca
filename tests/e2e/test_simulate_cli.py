"""The README's first command: `cleanup-manager simulate` ends with the summary and a JSON file."""

import json
import os
import subprocess
import sys


def test_simulate_with_no_arguments_prints_the_summary_and_writes_json(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEANUP_")}
    env["CLEANUP_DATA_DIR"] = str(tmp_path / "data")
    env["CLEANUP_SIMULATION_DIR"] = str(tmp_path / "simulations")
    env["CLEANUP_METRICS_PORT"] = "0"
    out = tmp_path / "summary.json"
    result = subprocess.run([sys.executable, "-m", "cli.main", "simulate", "--quiet", "--json", str(out)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for text in ("Positions", "Action timeline", "KPIs", "exercise prevention 100%"):
        assert text in result.stdout
    summary = json.loads(out.read_text())
    assert summary["close_et"] == "2026-11-25T16:00:00-05:00"
    assert summary["close_local"] == "2026-11-26T05:00:00+08:00"
    assert {p["outcome"] for p in summary["positions"]} <= {"closed", "expired_otm", "exercised", "assigned", "open"}
    assert set(summary["kpis"]) == {"exercise_prevention_rate", "false_positive_rate", "mean_slippage",
                                    "exercised_contracts", "shares_delivered"}
    assert summary["restarts"] and all(isinstance(n, int) for n in summary["restarts"].values())


def test_a_holiday_date_is_refused_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEANUP_")}
    env["CLEANUP_DATA_DIR"] = str(tmp_path)
    env["CLEANUP_SIMULATION_DIR"] = str(tmp_path / "simulations")
    result = subprocess.run([sys.executable, "-m", "cli.main", "simulate", "--date", "2026-11-26", "--quiet"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2 and "not a trading session" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_ctl_status_against_a_running_simulation_shows_mode_time_to_close_and_positions(tmp_path):
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEANUP_")}
    env.update({"CLEANUP_DATA_DIR": str(tmp_path), "CLEANUP_SIMULATION_DIR": str(tmp_path / "simulations"),
                "CLEANUP_METRICS_PORT": "0"})
    simulation = subprocess.Popen([sys.executable, "-m", "cli.main", "simulate", "--quiet", "--speed", "20"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "control.sock").exists():
            assert time.monotonic() < deadline and simulation.poll() is None, "simulate never served its socket"
            time.sleep(0.2)
        result = subprocess.run([sys.executable, "-m", "cli.main", "ctl", "status"], capture_output=True,
                                text=True, env=env, timeout=60)
    finally:
        simulation.terminate()
        simulation.wait(timeout=60)
    assert result.returncode == 0, result.stderr
    assert "mode: active" in result.stdout
    assert "time to close:" in result.stdout and "16:00 ET" in result.stdout
    assert "positions at risk:" in result.stdout and "of 5" in result.stdout


def test_a_second_simulate_on_a_busy_control_socket_is_one_error_not_a_hang(tmp_path):
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEANUP_")}
    env.update({"CLEANUP_DATA_DIR": str(tmp_path), "CLEANUP_METRICS_PORT": "0"})
    first = subprocess.Popen([sys.executable, "-m", "cli.main", "simulate", "--quiet", "--speed", "5"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "control.sock").exists():
            assert time.monotonic() < deadline and first.poll() is None, "simulate never served its socket"
            time.sleep(0.2)
        started = time.monotonic()
        second = subprocess.run([sys.executable, "-m", "cli.main", "simulate", "--quiet"], capture_output=True,
                                text=True, env=env, timeout=60)
        took = time.monotonic() - started
        assert first.poll() is None  # the first run was not disturbed
    finally:
        first.terminate()
        first.wait(timeout=60)
    assert second.returncode == 2 and took < 30
    assert second.stderr.strip().splitlines() == [
        f"simulate: control socket {tmp_path / 'control.sock'} is in use: another cleanup-manager is running; "
        "give this run its own --set data_dir=DIR (or control_socket=PATH)"]
