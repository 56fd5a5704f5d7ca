import os
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "cli.main"]


def run(*args, env=None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CLEANUP_")}
    environment.update(env or {})
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=environment, timeout=60)


def test_help_explains_each_subcommand():
    result = run("--help")
    assert result.returncode == 0
    for name in ("check-config", "clock"):
        assert name in result.stdout


def test_clock_on_the_day_after_thanksgiving():
    result = run("clock", "--date", "2026-11-27")
    assert result.returncode == 0, result.stderr
    close_line = next(line for line in result.stdout.splitlines() if line.strip().startswith("close"))
    assert "13:00 ET" in close_line and "02:00 HKT" in close_line and "2026-11-28" in close_line


def test_clock_on_the_session_before_an_ex_date_names_the_dividend():
    result = run("clock", "--date", "2026-12-17", env={"CLEANUP_DIVIDENDS": "SPY 2026-12-18 2.11"})
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.strip().startswith("ex-dividend")]
    assert "SPY goes ex-dividend 2026-12-18 ($2.11 a share)" in line
    after = run("clock", "--date", "2026-12-18", env={"CLEANUP_DIVIDENDS": "SPY 2026-12-18 2.11"})
    assert "ex-dividend" not in after.stdout


def test_clock_on_a_holiday_names_the_next_session():
    result = run("clock", "--date", "2026-11-26")
    assert result.returncode == 0 and "no session" in result.stdout and "2026-11-27" in result.stdout


@pytest.mark.parametrize(
    ("args", "env", "key"),
    [
        (["check-config"], {"CLEANUP_T5_MONEYNESS": "0.5"}, "t5_moneyness"),
        (["check-config", "--mode", "active", "--set", "ib_port=0"], {}, "ib_port"),
        (["clock"], {"CLEANUP_TRADER_TZ": "Nowhere/City"}, "trader_tz"),
        (["check-config", "--set", "nonsense"], {}, "--set"),
        (["check-config"], {"CLEANUP_ATTEMPT_INTERVAL_SECONDS": "nan"}, "attempt_interval_seconds='nan'"),
        (["check-config", "--set", "quote_max_age_seconds=inf"], {}, "quote_max_age_seconds='inf'"),
        (["check-config"], {"CLEANUP_ALERT_URLS": "json://127.0.0.1/x?tag=loud"}, "alert URL json#1"),
        (["check-config"], {"CLEANUP_ALERT_URLS": "tgram://bad-token/1"}, "Apprise refuses this tgram:// URL"),
    ],
)
def test_bad_configuration_exits_2_with_one_line(args, env, key):
    result = run(*args, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and key in lines[0]


def test_check_config_shows_origins_and_masks_secrets():
    result = run("check-config", "--set", "max_slippage=0.07",
                 env={"CLEANUP_MODE": "active", "CLEANUP_TELEGRAM_BOT_TOKEN": "123456:SECRETTOKEN"})
    assert result.returncode == 0, result.stderr
    assert "SECRETTOKEN" not in result.stdout
    assert "environment CLEANUP_MODE" in result.stdout and "command line" in result.stdout


def test_a_non_utf8_config_file_exits_2_with_one_line(tmp_path):
    user = tmp_path / "config.json"
    user.write_bytes(b'{"mode": "active", "ib_account": "DU\xe9"}')
    result = run("check-config", "--config", str(user))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"config error: config='{user}': not UTF-8 text (at byte offset 36: invalid "
        "continuation byte); save the file as UTF-8"]


def test_check_config_names_the_section_and_the_file_of_a_sectioned_value(tmp_path):
    user = tmp_path / "c.toml"
    user.write_text('[thresholds]\nt5_moneyness = 0.008\n')
    result = run("check-config", "--config", str(user), env={"CLEANUP_IB_PORT": "4001"})
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if " t5_moneyness " in line)
    assert "[thresholds]" in row and "0.008" in row and "file " in row
    row = next(line for line in result.stdout.splitlines() if " ib_port " in line)
    assert "[broker]" in row and "environment CLEANUP_IB_PORT" in row


def test_a_key_given_twice_in_one_file_exits_2_with_one_line(tmp_path):
    user = tmp_path / "c.toml"
    user.write_text('t5_moneyness = 0.008\n[thresholds]\nt5_moneyness = 0.009\n')
    result = run("check-config", "--config", str(user))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"config error: thresholds.t5_moneyness=0.009 (from file {user}): given twice, in [thresholds] and as "
        "the flat key t5_moneyness: keep one of the two"]
